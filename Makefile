# The two commands of the README: `make lab` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set of extras: a learner's `make lab` gets only what the notebooks need
# (.[lab]); `make test` adds the test tools (pytest, Playwright, ruff, mypy) and the peer
# stacks that benchmarks/peers.py times and tests/test_peers.py checks (.[lab,test,bench]).
LAB_STAMP := $(VENV)/.lab-stamp
STAMP := $(VENV)/.installed-stamp
JUPYTER_ARGS ?=
# JupyterLab refuses to run as root (containers, CI) unless told it may.
AS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test lint bench system-programs clean

$(LAB_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "SSE Lab needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	touch $(LAB_STAMP)

$(STAMP): $(LAB_STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[lab,test,bench]'
	touch $(STAMP)

lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(AS_ROOT) $(JUPYTER_ARGS)

test: $(STAMP) system-programs lint
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

lint: $(STAMP)
	$(BIN)/ruff check sse_lab tests benchmarks
	$(BIN)/ruff format --check sse_lab tests benchmarks
	$(BIN)/mypy sse_lab

bench: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# The tests drive real programs from Debian (command:package pairs); install the missing
# ones where we may (root, apt). In CI a missing one fails its tests, elsewhere they skip loudly.
SYSTEM_PROGRAMS := chromium:chromium nginx:nginx redis-server:redis-server

system-programs:
	@missing=""; for pair in $(SYSTEM_PROGRAMS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing and cannot be installed here:$$missing (their tests will be skipped)"; fi; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info

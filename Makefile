# The two commands of the README: `make lab` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every package comes from a tracked lock of exact versions (requirements/): lab.txt is what
# a learner's `make lab` installs (the package's dependencies and its `lab` extra);
# test.txt adds the test tools and the peer stacks that benchmarks/peers.py times
# (.[lab,test,bench]) at the same versions. `make lock` is the one way to change them.
LAB_LOCK := requirements/lab.txt
TEST_LOCK := requirements/test.txt
LAB_STAMP := $(VENV)/.lab-stamp
STAMP := $(VENV)/.installed-stamp
# The resolver `make lock` runs; the locks hold every Python 3.11-3.13 platform, with markers.
UV_VERSION := 0.13.9
LOCK_ARGS := pyproject.toml requirements/build.in --universal --python-version 3.11 --no-header --upgrade --quiet
JUPYTER_ARGS ?=
# JupyterLab refuses to run as root (containers, CI) unless told it may.
AS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test lint lock bench system-programs hub-proxy zh clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "SSE Lab needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(LAB_STAMP): $(LAB_LOCK) pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r $(LAB_LOCK)
	@# setuptools' notes about editable installs are UserWarnings: not the learner's concern.
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(LAB_STAMP)

$(STAMP): $(LAB_STAMP) $(TEST_LOCK)
	$(BIN)/python -m pip install --quiet -r $(TEST_LOCK)
	touch $(STAMP)

# The checks' Chinese messages, compiled to the .mo that gettext reads (built, never
# committed: setup.py compiles them too, for `pip install .`).
MESSAGES_PO := sse_lab/locale/zh/LC_MESSAGES/sse_lab.po
MESSAGES_MO := $(MESSAGES_PO:.po=.mo)

$(MESSAGES_MO): $(MESSAGES_PO) | $(LAB_STAMP)
	$(BIN)/pybabel compile -i $(MESSAGES_PO) -o $(MESSAGES_MO)

lab: $(LAB_STAMP) $(MESSAGES_MO) system-programs
	$(BIN)/jupyter lab --notebook-dir=notebooks $(AS_ROOT) $(JUPYTER_ARGS)

# The tests, then every notebook, English and Chinese (NN-*.zh.ipynb), under strict nbval at a
# learner's pace (LEARNER_PACE seconds before each code cell), side by side: sleeping costs no
# CPU. xdist hands out the notebooks with the most cells first, the next one to the process
# that finishes first: 8 processes run the 16 in well under twice the time of the longest.
LEARNER_PACE ?= 6
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

test: $(STAMP) $(MESSAGES_MO) system-programs hub-proxy lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest $(NBVAL) --learner-pace $(LEARNER_PACE) -n 8 --dist loadfile notebooks

lint: $(STAMP)
	$(BIN)/ruff check --no-cache sse_lab tests benchmarks conftest.py
	$(BIN)/ruff format --no-cache --check sse_lab tests benchmarks conftest.py
	$(BIN)/mypy sse_lab

# Re-resolve both locks to the newest versions pyproject.toml allows, then run `make test`.
lock: | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile $(LOCK_ARGS) --extra lab -o $(LAB_LOCK)
	$(BIN)/uv pip compile $(LOCK_ARGS) --extra lab --extra test --extra bench -c $(LAB_LOCK) -o $(TEST_LOCK)

bench: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# Notebook 07 and the tests drive real programs from Debian (nginx, openssl, Chromium,
# redis-server): install the missing ones where we may (root, apt), else say which sections
# of 07 will not run and how to fix it. In CI a missing one fails its tests, elsewhere they skip loudly.
# The same for fonts-noto-cjk, which draws Chinese in the plots.
system-programs: $(LAB_STAMP)
	@$(BIN)/python -m sse_lab.services.programs --install

# configurable-http-proxy, the proxy of the JupyterHub that tests/test_hub.py runs, at the
# versions of the tracked tests/hub/package-lock.json. Without npm that test skips (in CI: fails).
HUB_PROXY := tests/hub/node_modules/.bin/configurable-http-proxy

hub-proxy: system-programs
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(HUB_PROXY); \
	else echo "npm is missing: tests/test_hub.py will be skipped"; fi

$(HUB_PROXY): tests/hub/package.json tests/hub/package-lock.json
	npm ci --prefix tests/hub --no-audit --no-fund --loglevel=error
	touch $(HUB_PROXY)

# The Chinese edition after a change to the English one (README.md, "The Chinese edition"):
# the checks' messages extracted again into their catalogue, each notebook's catalogue
# brought up to date (notebooks/locale/zh/), the Chinese notebooks built from them, and those
# with code cells not yet run executed. Then translate what is new or fuzzy and run it again.
TRANSLATE := $(BIN)/python -m sse_lab.lab.translate

zh: $(LAB_STAMP)
	$(TRANSLATE) messages
	$(TRANSLATE) update
	@$(MAKE) --no-print-directory $(MESSAGES_MO)
	$(TRANSLATE) build --execute

clean:
	rm -rf $(VENV) build *.egg-info tests/hub/node_modules

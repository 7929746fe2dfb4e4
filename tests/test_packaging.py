"""The ways to install stay in step: pyproject.toml (pip, `make`), environment.yml (conda).

A learner's install (`make lab`, environment.yml) holds the package and its `lab` extra only;
the test tools (Playwright alone is hundreds of MB) come with `make test`.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# What a pip extra of pyproject.toml brings, which environment.yml names as a package.
EXTRAS = {"openai[aiohttp]": "httpx-aiohttp>=0.1.8"}
# PyPI names conda-forge spells otherwise.
CONDA_NAMES = {"redis": "redis-py"}


def normalized(requirement: str) -> str:
    """`jupyterlab_widgets>=3.0` -> `jupyterlab-widgets>=3.0` (PEP 503 names, no spaces,
    no comment, no extras)."""
    requirement = requirement.split("#")[0]
    name, bound = re.match(r"\s*([A-Za-z0-9_.-]+)(?:\[.*\])?\s*(.*)", requirement).groups()  # type: ignore[union-attr]
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_NAMES.get(name, name) + bound.replace(" ", "")


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements(*extras: str) -> set[str]:
    wanted = list(PROJECT["dependencies"])
    for extra in extras:
        wanted += PROJECT["optional-dependencies"][extra]
    wanted += [EXTRAS[r.split(">")[0]] for r in wanted if r.split(">")[0] in EXTRAS]
    return {normalized(r) for r in wanted}


def conda_requirements() -> set[str]:
    text = (ROOT / "environment.yml").read_text()
    lines = text.split("dependencies:", 1)[1].splitlines()
    listed = [line.strip()[2:] for line in lines if line.startswith("  - ")]
    return {normalized(r) for r in listed if not r.startswith(("python", "pip"))}


def test_environment_yml_lists_exactly_the_dependencies_and_the_lab_extra() -> None:
    assert conda_requirements() == pyproject_requirements("lab")
    assert not conda_requirements() & (pyproject_requirements("test") - pyproject_requirements())


def test_the_test_extra_repeats_nothing_the_lab_extra_has() -> None:
    # `make test` installs both: what the notebooks need is listed once, under `lab`.
    lab, test = (
        {normalized(r).split(">")[0] for r in PROJECT["optional-dependencies"][extra]}
        for extra in ("lab", "test")
    )
    assert not lab & test


def make_dry_run(target: str) -> str:
    """The commands `make TARGET` would run from scratch (-B), without running them (-n)."""
    return subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_make_lab_installs_the_lab_extra_only_and_make_test_adds_test_and_bench() -> None:
    lab, test = make_dry_run("lab"), make_dry_run("test")
    assert re.findall(r"pip install .*-e '(\S+)'", lab) == [".[lab]"]
    assert re.findall(r"pip install .*-e '(\S+)'", test) == [".[lab]", ".[lab,test,bench]"]
    assert "jupyter lab" in lab and "pytest" not in lab


# The import name of each test-only distribution, where it is not the distribution's own.
IMPORT_NAMES = {"sseclient-py": "sseclient"}


def modules_of_the_test_extra() -> set[str]:
    names = {normalized(r).split(">")[0] for r in PROJECT["optional-dependencies"]["test"]}
    return {IMPORT_NAMES.get(name, name.replace("-", "_")) for name in names}


def learner_code() -> list[tuple[str, str]]:
    """(where, source) of everything a learner runs: the package, notebooks, solutions."""
    files = [*(ROOT / "sse_lab").rglob("*.py"), *(ROOT / "notebooks").rglob("*.py")]
    code = [(str(path.relative_to(ROOT)), path.read_text()) for path in files]
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code += [
            (f"{notebook.name} cell {n}", "".join(cell["source"]))
            for n, cell in enumerate(cells)
            if cell["cell_type"] == "code"
        ]
    return code


@pytest.mark.parametrize("module", sorted(modules_of_the_test_extra()))
def test_nothing_a_learner_runs_imports_a_test_tool(module: str) -> None:
    imports = re.compile(rf"^\s*(?:import|from)\s+{module}\b", re.MULTILINE)
    assert [where for where, source in learner_code() if imports.search(source)] == []


def test_environment_yml_installs_the_package_itself() -> None:
    assert "      - -e ." in (ROOT / "environment.yml").read_text().splitlines()

"""The two ways to install stay in step: pyproject.toml (pip, `make`), environment.yml (conda)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

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


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    wanted += [EXTRAS[r.split(">")[0]] for r in wanted if r.split(">")[0] in EXTRAS]
    return {normalized(r) for r in wanted}


def conda_requirements() -> set[str]:
    text = (ROOT / "environment.yml").read_text()
    lines = text.split("dependencies:", 1)[1].splitlines()
    listed = [line.strip()[2:] for line in lines if line.startswith("  - ")]
    return {normalized(r) for r in listed if not r.startswith(("python", "pip"))}


def test_environment_yml_lists_exactly_the_pyproject_dependencies() -> None:
    assert conda_requirements() == pyproject_requirements()


def test_environment_yml_installs_the_package_itself() -> None:
    assert "      - -e ." in (ROOT / "environment.yml").read_text().splitlines()

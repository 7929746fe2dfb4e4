"""The ways to install stay in step, and every package installed is pinned.

requirements/lab.txt locks what a learner's `make lab` installs (the package and its `lab`
extra); requirements/test.txt adds the test tools and the peer stacks for `make test`, at the
same versions; environment.yml (conda) installs from the lab lock. `make lock` writes both.
A wheel carries the checks' Chinese messages compiled (setup.py).
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LAB_LOCK, TEST_LOCK = ROOT / "requirements" / "lab.txt", ROOT / "requirements" / "test.txt"


def locked(lock: Path) -> dict[str, str]:
    """{name: version} of the lock's pins that apply to this Python on this platform."""
    pins = {}
    for line in lock.read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                (pin,) = requirement.specifier
                assert pin.operator == "==", line
                pins[canonicalize_name(requirement.name)] = pin.version
    return pins


def wanted(*extras: str) -> list[Requirement]:
    """The package's own requirements and those of `extras`, as pyproject.toml states them."""
    texts = list(PROJECT["dependencies"])
    for extra in extras:
        texts += PROJECT["optional-dependencies"][extra]
    return [Requirement(text.split("#")[0]) for text in texts]


def installed_closure(roots: list[Requirement]) -> dict[str, str]:
    """{name: installed version} of `roots` and everything they need, extras included, walked
    through the metadata of this environment's distributions."""
    found: dict[str, str] = {}
    todo = [(r, frozenset(r.extras)) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        found[name] = metadata.version(name)
        for text in metadata.requires(name) or []:
            child = Requirement(text)
            applies = child.marker is None or any(
                child.marker.evaluate({**default_environment(), "extra": extra})
                for extra in {"", *extras}
            )
            if applies:
                todo.append((child, frozenset(child.extras)))
    return found


def test_every_package_of_make_lab_is_pinned_at_the_version_installed() -> None:
    lab = locked(LAB_LOCK)
    closure = installed_closure(wanted("lab"))
    assert {name: v for name, v in closure.items() if lab.get(name) != v} == {}


def test_every_package_of_make_test_is_pinned_and_nothing_else_is_installed() -> None:
    pins = locked(TEST_LOCK)
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) != "sse-lab"
    }
    assert {name: v for name, v in installed.items() if pins.get(name) != v} == {}
    assert installed_closure(wanted("lab", "test", "bench")).keys() <= pins.keys()


def test_the_test_lock_has_the_lab_lock_at_the_same_versions() -> None:
    test = locked(TEST_LOCK)
    assert {name: v for name, v in locked(LAB_LOCK).items() if test.get(name) != v} == {}


@pytest.mark.parametrize("lock", [LAB_LOCK, TEST_LOCK], ids=lambda p: p.name)
def test_the_locks_meet_pyproject_and_cover_python_3_11_to_3_13(lock: Path) -> None:
    # One version per line, or one per Python where the newest differ (numpy 2.5 needs 3.12).
    text = lock.read_text()
    versions: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "==" in line and not line.startswith(" "):
            name, version = line.split(";")[0].split("==")
            versions.setdefault(canonicalize_name(name), []).append(version.strip())
    extras = ["lab"] if lock == LAB_LOCK else ["lab", "test", "bench"]
    for requirement in wanted(*extras):
        pinned = versions.get(canonicalize_name(requirement.name))
        assert pinned, f"{requirement.name} is not in {lock.name}: run `make lock`"
        assert all(requirement.specifier.contains(v) for v in pinned), (requirement, pinned)
    assert {"pip", "setuptools"} <= versions.keys()
    assert "python_full_version >= '3.12'" in text  # resolved for every Python from 3.11 on


def test_environment_yml_installs_the_lab_lock_and_the_package() -> None:
    text = (ROOT / "environment.yml").read_text()
    assert re.findall(r"^\s+- (-r \S+|-e \S+)$", text, re.M) == ["-r requirements/lab.txt", "-e ."]
    conda = re.findall(r"^  - (\S+)$", text.split("dependencies:")[1], re.M)
    assert conda == ["python>=3.11,<3.14", f"pip=={locked(LAB_LOCK)['pip']}", "pip:"]


def test_the_test_extra_repeats_nothing_the_lab_extra_has() -> None:
    # `make test` installs both: what the notebooks need is listed once, under `lab`.
    lab, test = (
        {r.name for r in wanted(extra)} - {r.name for r in wanted()} for extra in ("lab", "test")
    )
    assert not lab & test


def make_dry_run(target: str) -> str:
    """The commands `make TARGET` would run from scratch (-B), without running them (-n)."""
    return subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def pip_installs(commands: str) -> list[str]:
    """What each `pip install` of `commands` installs, its options dropped."""
    return [
        " ".join(arg for arg in line.split("pip install", 1)[1].split() if arg != "--quiet")
        for line in commands.splitlines()
        if "pip install" in line
    ]


def test_make_lab_and_make_test_install_from_the_locks_only() -> None:
    lab, test = make_dry_run("lab"), make_dry_run("test")
    editable = "--no-deps --no-build-isolation -e ."
    assert pip_installs(lab) == ["-r requirements/lab.txt", editable]
    assert pip_installs(test) == ["-r requirements/lab.txt", editable, "-r requirements/test.txt"]
    assert "jupyter lab" in lab and "pytest" not in lab


def test_make_lock_writes_both_locks_with_a_pinned_resolver() -> None:
    lock = make_dry_run("lock")
    assert re.search(r"pip install .*uv==\d+\.\d+\.\d+", lock)
    assert "-o requirements/lab.txt" in lock and "-o requirements/test.txt" in lock
    assert "-c requirements/lab.txt" in lock  # the test lock keeps the lab lock's versions


# The import name of each test-only distribution, where it is not the distribution's own.
IMPORT_NAMES = {"sseclient-py": "sseclient"}


def modules_of_the_test_extra() -> set[str]:
    names = {canonicalize_name(r.name) for r in wanted("test")} - {
        canonicalize_name(r.name) for r in wanted()
    }
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


def test_a_built_wheel_holds_the_compiled_chinese_messages(tmp_path: Path) -> None:
    # From a copy of the sources git keeps (ignored files such as a .mo left out), as a fresh
    # clone would build it.
    kept = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(
        [*kept, "sse_lab", "setup.py", "pyproject.toml", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    source = tmp_path / "source"
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    assert not list(source.rglob("*.mo"))
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    subprocess.run(
        [*pip_wheel, "--no-build-isolation", str(source), "-w", str(tmp_path / "dist")], check=True
    )
    (wheel,) = (tmp_path / "dist").glob("sse_lab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sse_lab/locale/zh/LC_MESSAGES/sse_lab.mo" in names
    assert "sse_lab/locale/zh/LC_MESSAGES/sse_lab.po" in names

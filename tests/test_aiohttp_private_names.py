"""aiohttp's private names are used in one module, sse_lab/server/guards.py, whose
docstring says why each is used; aiohttp is allowed only below its next minor version, so a
new one (which may rename them) comes in only after that module is checked."""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

import aiohttp
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = ROOT / "sse_lab" / "server" / "guards.py"
# What learners and users run: the package, the benchmarks, the notebooks' Python files.
SOURCES = sorted(
    path
    for folder in ("sse_lab", "benchmarks", "notebooks")
    for path in (ROOT / folder).rglob("*.py")
)


def is_private(name: str) -> bool:
    """`_name`, not `__name__`."""
    return name.startswith("_") and not name.startswith("__")


@cache
def aiohttp_private_names() -> frozenset[str]:
    """Every private name aiohttp gives its own objects: `self._x` or `cls._x` in its source,
    and its `_x` functions and methods."""
    names = set()
    for path in Path(aiohttp.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and _on_self(node):
                names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
    return frozenset(filter(is_private, names))


def _on_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")


def _aiohttp_imports(tree: ast.Module) -> set[str]:
    """The names a module binds to aiohttp's modules and objects (`web`, `RequestHandler`)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                if (module or alias.name).split(".")[0] == "aiohttp":
                    bound.add((alias.asname or alias.name).split(".")[0])
    return bound


@cache
def aiohttp_classes() -> frozenset[str]:
    """The names of the classes in SOURCES built on an aiohttp class, directly or through
    another of them (GuardedHandler on ConnectionHandler on aiohttp's RequestHandler)."""
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in SOURCES]
    classes: set[str] = set()
    while True:
        found = set(classes)
        for tree in trees:
            roots = _aiohttp_imports(tree) | classes
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    _root(base) in roots for base in node.bases
                ):
                    found.add(node.name)
        if found == classes:
            return frozenset(classes)
        classes = found


def _root(node: ast.expr) -> str:
    """`web` of `web.AppRunner`, `RequestHandler` of `RequestHandler`."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def private_uses(path: Path) -> list[tuple[str, str]]:
    """Where `path` uses a private name of aiohttp, and which: an import of one, `self._name`
    or an override of `_name` in a class built on an aiohttp class, `x._name` on any other
    object (unless the module's own classes set `self._name`: then it is theirs)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names, classes = aiohttp_private_names(), aiohttp_classes()
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name not in classes:
            own |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and _on_self(n)}
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "aiohttp":
            parts = [*(node.module or "").split("."), *(a.name for a in node.names)]
            uses += [(node.lineno, part) for part in parts if is_private(part)]
        elif isinstance(node, ast.ClassDef) and node.name in classes:
            for n in ast.walk(node):
                if isinstance(n, ast.Attribute) and _on_self(n) and n.attr in names:
                    uses.append((n.lineno, n.attr))
                elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name in names:
                    uses.append((n.lineno, n.name))  # an override
        elif isinstance(node, ast.Attribute) and not _on_self(node) and node.attr in names - own:
            uses.append((node.lineno, node.attr))
    return [(f"{path.relative_to(ROOT)}:{line}", name) for line, name in sorted(set(uses))]


def test_no_module_but_the_adapter_uses_a_private_name_of_aiohttp() -> None:
    assert ADAPTER in SOURCES
    assert [use for path in SOURCES if path != ADAPTER for use in private_uses(path)] == []


def test_the_adapter_says_why_it_uses_each_private_name() -> None:
    # Also a check of the check: it finds the private names the adapter is known to use.
    used = {name for _, name in private_uses(ADAPTER)}
    assert used == {
        "_request_in_progress",
        "_messages",
        "_request_count",
        "_kwargs",
        "_loop",
        "_make_server",
    }
    docstring = ast.get_docstring(ast.parse(ADAPTER.read_text(encoding="utf-8"))) or ""
    named = set(re.findall(r"`\w+\.(_\w+)`", docstring))  # `RequestHandler._messages`
    assert used <= named


def test_aiohttp_is_allowed_below_the_next_minor_version_of_the_locked_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (spec,) = [
        r.specifier for r in map(Requirement, project["dependencies"]) if r.name == "aiohttp"
    ]
    lock = (ROOT / "requirements" / "lab.txt").read_text()
    (locked,) = [Version(v) for v in re.findall(r"^aiohttp==(\S+)$", lock, re.M)]
    next_minor = Version(f"{locked.major}.{locked.minor + 1}")
    assert locked in spec and next_minor not in spec
    assert Version("3.10.5") not in spec  # before RequestHandler._request_in_progress

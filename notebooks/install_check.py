"""Checks that this kernel can run the SSE Lab workbook: one ✅ or ❌ line per requirement.

In a notebook: `%run install_check.py`. In a terminal: `python install_check.py --versions`
also prints the versions found, and the exit status is 1 when something is missing.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.metadata as metadata
import importlib.util
import json
import re
import sys
import urllib.request
from collections.abc import Iterator

MIN_PYTHON = (3, 11)
FIX = "run `make lab` again, and pick the kernel of the project's .venv"
# Packages JupyterLab itself loads, not the kernel: installed is enough (importing is slow).
SERVER_SIDE = {"jupyterlab", "jupyterlab_widgets"}
# A requirement of the package or of its `lab` extra, as its metadata spells it
# (`aiohttp<3.15,>=3.10.6`, `playwright>=1.45; extra == "lab"`): the name and the lower bound.
REQUIREMENT = re.compile(
    r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(?:<[0-9.]+\s*,\s*)?>=\s*([0-9.]+)\s*"
    r"(?:,\s*<\s*[0-9.]+\s*)?(?:;\s*extra\s*==\s*\"lab\")?$"
)
TIMEOUT_S = 10


def line(ok: bool, text: str) -> bool:
    """Print one verdict line; return whether it passed."""
    print(f"{'✅' if ok else '❌'} {text}")
    return ok


def version_tuple(version: str) -> tuple[int, ...]:
    """`"3.10.2"` -> `(3, 10, 2)`; stops at the first part that is not a number (`rc1`, ...)."""
    parts = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def requirements() -> Iterator[tuple[str, str]]:
    """(distribution, minimum version) the package and its `lab` extras ask for."""
    for text in metadata.requires("sse_lab") or []:
        if match := REQUIREMENT.match(text.strip()):
            yield match[1], match[2]


def check_python() -> bool:
    """Python 3.11 or newer (the package uses its typing and asyncio features)."""
    wanted = ".".join(map(str, MIN_PYTHON))
    return line(sys.version_info >= MIN_PYTHON, f"Python {wanted} or newer")


def check_package(name: str, minimum: str, show_version: bool) -> bool:
    """The distribution is installed, recent enough and (if the kernel uses it) importable."""
    try:
        found = metadata.version(name)
    except metadata.PackageNotFoundError:
        return line(False, f"{name} is not installed: {FIX}")
    if version_tuple(found) < version_tuple(minimum):
        return line(False, f"{name} {found} is older than {minimum}: {FIX}")
    module = name.replace("-", "_").lower()
    if module not in SERVER_SIDE:
        try:
            importlib.import_module(module)
        except ImportError as error:
            return line(False, f"{name} {found} is installed but does not import: {error}")
    return line(True, f"{name} {found}" if show_version else name)


def check_widgets() -> bool:
    """Widgets need ipywidgets in the kernel and jupyterlab_widgets in JupyterLab."""
    missing = [m for m in ("ipywidgets", "jupyterlab_widgets") if not importlib.util.find_spec(m)]
    if missing:
        why = 'widgets would show as "Error displaying widget"'
        return line(False, f"{' and '.join(missing)} missing: {why}; {FIX}, then reload the page")
    return line(True, "ipywidgets and jupyterlab_widgets: the chat view can display")


def check_programs() -> None:
    """The programs notebooks 07 and 08 drive: a missing one is a warning (only its sections
    need it), with what it enables and the command that installs it."""
    from sse_lab.services.programs import PROGRAMS, install_command, is_installed

    for program in PROGRAMS:
        if is_installed(program):
            print(f"✅ {program.command}: {program.enables}")
        else:
            print(f"⚠️ no {program.command} on this machine, so no {program.enables}")
            print(f"   to add it: {install_command([program])}")


def check_cjk_font() -> None:
    """A font that draws Chinese in the plots: a missing one is a warning (Chinese titles and
    legends show as boxes), with the command that installs Debian's."""
    from sse_lab.cjk_fonts import cjk_fonts
    from sse_lab.services.programs import CJK_FONT_PACKAGE, apt_install_command

    found = cjk_fonts()
    if found:
        print(f"✅ {found[0]}: Chinese in the plots' titles and legends")
    else:
        print("⚠️ no font that draws Chinese on this machine, so Chinese in plots shows as boxes")
        print(f"   to add it: {apt_install_command([CJK_FONT_PACKAGE])}")


def check_server() -> bool:
    """Start the lab server, ask it a question, and read the streamed answer to its end."""
    from sse_lab import EventStreamParser, start_server
    from sse_lab.model import answer_tokens

    prompt = "What is SSE?"
    with start_server(token_delay=0) as lab:
        headers = {**lab.auth_header("alice"), "Content-Type": "application/json"}
        post = urllib.request.Request(
            f"{lab.url}/new", data=json.dumps({"prompt": prompt}).encode(), headers=headers
        )
        with urllib.request.urlopen(post, timeout=TIMEOUT_S) as response:
            stream_url = lab.url + json.load(response)["stream_url"]
        get = urllib.request.Request(stream_url, headers=lab.auth_header("alice"))
        with urllib.request.urlopen(get, timeout=TIMEOUT_S) as response:
            events = EventStreamParser().feed(response.read())
    text = "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")
    streamed = text == "".join(answer_tokens(prompt)) and events[-1].event == "done"
    return line(streamed, "the lab server starts and streams an answer (POST /new, GET /sse/{id})")


def check_setup(show_versions: bool = False) -> bool:
    """Run every check, one line each; whether all passed."""
    results = [check_python()]
    try:
        wanted = list(requirements())
    except metadata.PackageNotFoundError:
        results.append(line(False, f"the sse_lab package is not in this Python environment: {FIX}"))
    else:
        results += [check_package(name, minimum, show_versions) for name, minimum in wanted]
        results.append(check_widgets())
        check_programs()
        check_cjk_font()
        try:
            results.append(check_server())
        except Exception as error:  # any failure here is a broken set-up: say which
            results.append(line(False, f"the lab server did not stream an answer: {error!r}"))
    if all(results):
        print("All set: the workbook is ready to run.")
    else:
        print("Something is missing: fix the ❌ lines above, then run this check again.")
    return all(results)


if __name__ == "__main__":
    passed = check_setup(show_versions="--versions" in sys.argv)
    if not passed and not hasattr(builtins, "__IPYTHON__"):
        sys.exit(1)  # a failing status in a terminal or CI; in a notebook the ❌ lines say it

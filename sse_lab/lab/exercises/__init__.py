"""Checks for the workbook's exercises: one module per notebook, each check prints a verdict.

A check never raises for an unfinished answer: it prints what is still missing and
returns a false Verdict, so a learner can run it as often as they like. What a check prints
is in the language of `sse_lab.lab.use_language` (English unless told): every message is
wrapped in `_()` with named placeholders (see sse_lab.lab.i18n).
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import aiohttp

from sse_lab.lab.i18n import _
from sse_lab.lab.launch import LabServer


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check found: true when the answer passed, with the line it printed.

    The line is printed when the check runs; a Verdict left as a cell's last value shows
    nothing more, so a check cell reads ✅ or ❌ and no stray True or False under it.
    """

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Nothing to add: the check printed its verdict already."""


def verdict(problem: str | None, success: str = "") -> Verdict:
    """Print ✅ with `success`, or ❌ with the first problem found; the Verdict."""
    if problem:
        message = "❌ " + _("not yet: {problem}").format(problem=problem)
    else:
        message = f"✅ {success}"
    print(message)
    return Verdict(problem is None, message)


def with_hint(problem: str, hint: str | None) -> str:
    """The problem, followed by `hint` (if any) as what to look at."""
    if not hint:
        return problem
    return _("{problem} (hint: {hint})").format(problem=problem, hint=hint)


def with_rule(problem: str, rule: str | None) -> str:
    """The problem, followed by the rule it breaks (if known), after a colon."""
    if not rule:
        return problem
    # TRANSLATORS: a problem, then the rule it breaks
    return _("{problem}: {rule}").format(problem=problem, rule=rule)


def unavailable(missing: str) -> Verdict:
    """Print ⚠️ with what this machine lacks for the check (not the learner's mistake); a
    false Verdict, since nothing was checked."""
    message = "⚠️ " + _("this check cannot run on this machine: {missing}").format(missing=missing)
    print(message)
    return Verdict(False, message)


def failed_definition_problem(function: Callable[..., object]) -> str | None:
    """What went wrong when the learner last ran a notebook cell defining `function`, or None.

    A cell that does not compile (an IndentationError, a SyntaxError) defines nothing, so
    its name still holds the definition run before it, which a check would test and might
    pass. IPython keeps every cell run, failed ones too: this parses the latest cell with
    `def <name>(` and reports its error. Outside IPython (not even imported, as in a
    script) there is no such history: None.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    if shell is None:
        return None
    name = function.__name__
    defines = re.compile(rf"^\s*(async\s+)?def\s+{re.escape(name)}\s*\(", re.MULTILINE)
    cells = [cell for cell in shell.history_manager.input_hist_raw if defines.search(cell)]
    if not cells:
        return None
    try:
        ast.parse(shell.transform_cell(cells[-1]))
    except SyntaxError as error:
        return _(
            "your latest cell defining {name} did not run ({error}: {message}, line "
            "{line}), so {name} is still the one you ran before it: fix that cell and run "
            "it again"
        ).format(name=name, error=type(error).__name__, message=error.msg, line=error.lineno)
    return None


def values_in_traceback(error: BaseException) -> Iterator[object]:
    """The local variables of each frame `error` passed through, innermost first: what the
    learner's code (and the library it called) held when it failed, for a check to name."""
    frames = []
    traceback = error.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    for frame in reversed(frames):
        yield from frame.f_locals.values()


async def call(function: Callable[..., object], *args: object) -> object:
    """The function's result, awaited if it is a coroutine (a stub may be a plain def)."""
    result = function(*args)
    return await result if inspect.isawaitable(result) else result


async def ask_as_alice(lab: LabServer, prompt: str, base_url: str | None = None) -> str:
    """`POST /new` as alice (to `base_url`, e.g. a proxy in front, else the lab): the id."""
    async with (
        aiohttp.ClientSession(headers=lab.auth_header("alice")) as session,
        session.post(f"{base_url or lab.url}/new", json={"prompt": prompt}) as response,
    ):
        response.raise_for_status()
        answer_id: str = (await response.json())["id"]
        return answer_id


def text_shape_problem(call: str, got: object) -> str | None:
    """What is wrong with `got` as an answer's text whatever its words (None, not a str, raw
    event data), or None: the first checks of every exercise that returns an answer's text."""
    if got is None:
        return _("{call} returned None: return the answer's text").format(call=call)
    if not isinstance(got, str):
        return _("{call} returned a {type}: return the text, a str").format(
            call=call, type=type(got).__name__
        )
    if '"delta"' in got:
        return _("{call} returned raw data: join the `delta` of each event's JSON data").format(
            call=call
        )
    return None

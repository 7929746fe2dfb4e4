"""Checks for the workbook's exercises: one module per notebook, each check prints a verdict.

A check never raises for an unfinished answer: it prints what is still missing and
returns False, so a learner can run it as often as they like.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable


def verdict(problem: str | None, success: str = "") -> bool:
    """Print ✅ with `success`, or ❌ with the first problem found; whether it passed."""
    print(f"❌ not yet: {problem}" if problem else f"✅ {success}")
    return problem is None


async def call(function: Callable[..., object], *args: object) -> object:
    """The function's result, awaited if it is a coroutine (a stub may be a plain def)."""
    result = function(*args)
    return await result if inspect.isawaitable(result) else result

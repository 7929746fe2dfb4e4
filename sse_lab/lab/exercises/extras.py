"""Checks for the extra exercises of docs/workshop.md, for learners who finish early: an event
encoder (after 01), a reconnection back-off (after 02), the longest prompt a URL holds (after 04).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import urlencode

from sse_lab.lab.exercises import Verdict, verdict
from sse_lab.sse import EventStreamParser

__all__ = ["check_encode_event", "check_longest_prompt", "check_reconnect_waits"]

# (data, event, id) -> a hint for when the encoded bytes do not parse back to that event
_EVENTS: Final[tuple[tuple[str, str | None, str | None, str], ...]] = (
    ("hello", None, None, "one `data:` line, then a blank line"),
    (
        "hello",
        "greeting",
        "7",
        "when they are given, write an `event:` and an `id:` line, before the blank line",
    ),
    ("line 1\nline 2", None, None, "each line of the data needs its own `data:` line"),
    ("CR\rLF\nCRLF\r\nend", None, None, "\\r, \\n and \\r\\n all end a line: split on each"),
    (" leading space", None, None, "write `data: ` with its space: the parser removes one"),
    ("", "ping", None, "empty data is still one `data:` line"),
)

_WAIT_CASES: Final[tuple[tuple[int, int, int, list[int], str], ...]] = (
    (300, 4, 30_000, [300, 600, 1200, 2400], "the first wait is retry_ms, then each doubles"),
    (1000, 0, 30_000, [], "no failures, no waits"),
    (
        1000,
        7,
        30_000,
        [1000, 2000, 4000, 8000, 16000, 30000, 30000],
        "no wait is longer than cap_ms",
    ),
    (5000, 3, 4000, [4000, 4000, 4000], "the cap applies to the first wait too"),
)

_PROMPT_CHARS: Final = ("x", " ", "&", "é", "日", "🙂")


def check_encode_event(encode_event: Callable[[str, str | None, str | None], object]) -> Verdict:
    """Whether `encode_event(data, event, id)` writes bytes a browser parses back to that event."""
    for data, event, id_, hint in _EVENTS:
        call = f"encode_event({data!r}, {event!r}, {id_!r})"
        try:
            raw = encode_event(data, event, id_)
        except Exception as error:
            return verdict(f"{call} raised {error!r}")
        if not isinstance(raw, bytes):
            return verdict(f"{call} returned {raw!r}: return bytes")
        parsed = EventStreamParser().feed(raw)
        want = (data.replace("\r\n", "\n").replace("\r", "\n"), event or "message", id_ or "")
        if len(parsed) != 1:
            return verdict(f"a parser reads {len(parsed)} events from {call} (hint: {hint})")
        got = parsed[0]
        if (got.data, got.event, got.id or "") != want:
            return verdict(
                f"{call} parses back as data={got.data!r}, event={got.event!r}, "
                f"id={got.id!r} (hint: {hint})"
            )
    return verdict(None, "encode_event writes what ServerSentEvent.encode writes, near enough")


def check_reconnect_waits(reconnect_waits: Callable[[int, int, int], object]) -> Verdict:
    """Whether `reconnect_waits(retry_ms, failures, cap_ms)` doubles the wait after each failed
    reconnect, from `retry_ms`, never above `cap_ms`."""
    for retry_ms, failures, cap_ms, expected, hint in _WAIT_CASES:
        call = f"reconnect_waits({retry_ms}, {failures}, {cap_ms})"
        try:
            got = reconnect_waits(retry_ms, failures, cap_ms)
        except Exception as error:
            return verdict(f"{call} raised {error!r}")
        if got != expected:
            return verdict(f"{call} returned {got!r}, expected {expected} (hint: {hint})")
    return verdict(None, "reconnect_waits backs off as a polite client does")


def check_longest_prompt(longest_prompt: Callable[[str, int], object]) -> Verdict:
    """Whether `longest_prompt(char, limit)` is the most repeats of `char` for which
    `/ask?prompt=...` stays within `limit` bytes."""
    for char in _PROMPT_CHARS:
        for limit in (8190, 100):
            call = f"longest_prompt({char!r}, {limit})"
            try:
                got = longest_prompt(char, limit)
            except Exception as error:
                return verdict(f"{call} raised {error!r}")
            expected = (limit - len("/ask?prompt=")) // len(urlencode({"p": char})[2:])
            if got != expected:
                size = len(urlencode({"p": char})[2:])
                return verdict(
                    f"{call} returned {got!r}, expected {expected} (hint: {char!r} takes {size} "
                    "bytes once encoded, and `/ask?prompt=` 12)"
                )
    return verdict(None, "longest_prompt knows what each character costs in a URL")

"""Checks for the extra exercises of docs/workshop.md, for learners who finish early: an event
encoder (after 01), a reconnection back-off (after 02), the longest prompt a URL holds (after 04).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import urlencode

from sse_lab.lab.exercises import Verdict, verdict, with_hint
from sse_lab.lab.i18n import N_, _
from sse_lab.sse import EventStreamParser

__all__ = ["check_encode_event", "check_longest_prompt", "check_reconnect_waits"]

# (data, event, id) -> a hint for when the encoded bytes do not parse back to that event
_EVENTS: Final[tuple[tuple[str, str | None, str | None, str], ...]] = (
    ("hello", None, None, N_("one `data:` line, then a blank line")),
    (
        "hello",
        "greeting",
        "7",
        N_("when they are given, write an `event:` and an `id:` line, before the blank line"),
    ),
    ("line 1\nline 2", None, None, N_("each line of the data needs its own `data:` line")),
    ("CR\rLF\nCRLF\r\nend", None, None, N_("\\r, \\n and \\r\\n all end a line: split on each")),
    (" leading space", None, None, N_("write `data: ` with its space: the parser removes one")),
    ("", "ping", None, N_("empty data is still one `data:` line")),
)

_WAIT_CASES: Final[tuple[tuple[int, int, int, list[int], str], ...]] = (
    (300, 4, 30_000, [300, 600, 1200, 2400], N_("the first wait is retry_ms, then each doubles")),
    (1000, 0, 30_000, [], N_("no failures, no waits")),
    (
        1000,
        7,
        30_000,
        [1000, 2000, 4000, 8000, 16000, 30000, 30000],
        N_("no wait is longer than cap_ms"),
    ),
    (5000, 3, 4000, [4000, 4000, 4000], N_("the cap applies to the first wait too")),
)

_PROMPT_CHARS: Final = ("x", " ", "&", "é", "日", "🙂")


def check_encode_event(encode_event: Callable[[str, str | None, str | None], object]) -> Verdict:
    """Whether `encode_event(data, event, id)` writes bytes a browser parses back to that event."""
    for data, event, id_, hint in _EVENTS:
        call = f"encode_event({data!r}, {event!r}, {id_!r})"
        try:
            raw = encode_event(data, event, id_)
        except Exception as error:
            return verdict(_("{call} raised {error!r}").format(call=call, error=error))
        if not isinstance(raw, bytes):
            return verdict(_("{call} returned {raw!r}: return bytes").format(call=call, raw=raw))
        parsed = EventStreamParser().feed(raw)
        want = (data.replace("\r\n", "\n").replace("\r", "\n"), event or "message", id_ or "")
        if len(parsed) != 1:
            problem = _("a parser reads {count} events from {call}").format(
                count=len(parsed), call=call
            )
            return verdict(with_hint(problem, _(hint)))
        got = parsed[0]
        if (got.data, got.event, got.id or "") != want:
            problem = _("{call} parses back as data={data!r}, event={event!r}, id={id!r}").format(
                call=call, data=got.data, event=got.event, id=got.id
            )
            return verdict(with_hint(problem, _(hint)))
    return verdict(None, _("encode_event writes what ServerSentEvent.encode writes, near enough"))


def check_reconnect_waits(reconnect_waits: Callable[[int, int, int], object]) -> Verdict:
    """Whether `reconnect_waits(retry_ms, failures, cap_ms)` doubles the wait after each failed
    reconnect, from `retry_ms`, never above `cap_ms`."""
    for retry_ms, failures, cap_ms, expected, hint in _WAIT_CASES:
        call = f"reconnect_waits({retry_ms}, {failures}, {cap_ms})"
        try:
            got = reconnect_waits(retry_ms, failures, cap_ms)
        except Exception as error:
            return verdict(_("{call} raised {error!r}").format(call=call, error=error))
        if got != expected:
            problem = _("{call} returned {got!r}, expected {expected}").format(
                call=call, got=got, expected=expected
            )
            return verdict(with_hint(problem, _(hint)))
    return verdict(None, _("reconnect_waits backs off as a polite client does"))


def check_longest_prompt(longest_prompt: Callable[[str, int], object]) -> Verdict:
    """Whether `longest_prompt(char, limit)` is the most repeats of `char` for which
    `/ask?prompt=...` stays within `limit` bytes."""
    for char in _PROMPT_CHARS:
        for limit in (8190, 100):
            call = f"longest_prompt({char!r}, {limit})"
            try:
                got = longest_prompt(char, limit)
            except Exception as error:
                return verdict(_("{call} raised {error!r}").format(call=call, error=error))
            expected = (limit - len("/ask?prompt=")) // len(urlencode({"p": char})[2:])
            if got != expected:
                size = len(urlencode({"p": char})[2:])
                problem = _("{call} returned {got!r}, expected {expected}").format(
                    call=call, got=got, expected=expected
                )
                hint = _("{char!r} takes {size} bytes once encoded, and `/ask?prompt=` 12").format(
                    char=char, size=size
                )
                return verdict(with_hint(problem, hint))
    return verdict(None, _("longest_prompt knows what each character costs in a URL"))

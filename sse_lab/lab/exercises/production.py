"""Checks for notebook 07 (SSE in production): timing the first delta through a proxy, and
reading a whole answer through a proxy that cuts quiet streams.

Each check starts lab servers and real nginx of its own, runs the learner's function
through them as user alice, prints a verdict and returns whether every case passed.
Without nginx, a check says in one line how to install it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import aiohttp

from sse_lab.lab import exercises
from sse_lab.lab.exercises import Verdict, ask_as_alice, text_shape_problem, unavailable, verdict
from sse_lab.lab.i18n import _
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.services.nginx import nginx_missing, start_nginx

__all__ = ["check_read_to_the_end", "check_time_to_first_delta"]

_TIMEOUT: Final = 15.0  # seconds a learner's function gets before the check gives up
_PROMPT: Final = "What is SSE?"
_PACE: Final = 0.01  # seconds between tokens: the whole answer takes about a second
# A model slower than the proxy's patience: every pause between tokens is longer than
# nginx waits, so each connection is cut before the next token.
_SLOW_PACE: Final = 0.3
_PATIENCE: Final = 0.2
_SLOW_TOKENS: Final = 6
# A model that takes its time over the first token: the stream's headers come at once, the
# first delta this many seconds later, so a clock stopped at the headers shows.
_LATE: Final = 0.5


async def check_time_to_first_delta(
    time_to_first_delta: Callable[[str, str, str], object],
) -> Verdict:
    """Whether `await time_to_first_delta(url, token, prompt)` returns the seconds from
    `POST {url}/new` to the arrival of the answer's first delta: short straight from the
    server and through nginx with `X-Accel-Buffering: no`, the whole answer's time through
    an nginx that buffers, and at least _LATE from a model slow to its first token."""
    if missing := nginx_missing():
        return unavailable(missing)
    whole = _PACE * len(answer_tokens(_PROMPT))
    with (
        start_server(token_delay=_PACE) as lab,
        start_server(token_delay=_LATE, max_tokens=1) as late,
        start_nginx([lab.url]) as streaming,
        start_nginx([lab.url], honour_accel_buffering=False) as buffering,
    ):
        cases = (
            (_("straight from the lab server"), lab, lab.url, False),
            (_("through nginx, with X-Accel-Buffering: no"), lab, streaming.url, False),
            (_("through nginx, buffering"), lab, buffering.url, True),
            (
                _("from a model {late} s slow to its first token").format(late=_LATE),
                late,
                late.url,
                False,
            ),
        )
        measured = []
        for where, server, url, buffered in cases:
            # TRANSLATORS: a call of the learner's function, then where it was measured
            call = _("{call} {where}").format(
                call=f"time_to_first_delta(url, token, {_PROMPT!r})", where=where
            )
            token = server.tokens["alice"]
            got, problem = await _run(call, time_to_first_delta, url, token, _PROMPT)
            problem = problem or _seconds_problem(call, got)
            if problem is None:
                assert isinstance(got, float | int)  # _seconds_problem checked it is one
                problem = (
                    _headers_problem(call, got)
                    if server is late
                    else _whole_answer_problem(call, got, whole, buffered)
                )
            if problem:
                return verdict(problem)
            measured.append(_("{seconds:.2f} s {where}").format(seconds=got, where=where))
    # TRANSLATORS: between two measurements, as in "0.05 s straight from the lab server; ..."
    return verdict(None, "time_to_first_delta: " + _("; ").join(measured))


def _seconds_problem(call: str, got: object) -> str | None:
    """What is wrong with `got` as a number of seconds, whatever the case, or None."""
    if got is None:
        return _("{call} returned None: return the seconds until the first delta, a float").format(
            call=call
        )
    if isinstance(got, bool) or not isinstance(got, float | int):
        return _("{call} returned a {type}: return the seconds, a float").format(
            call=call, type=type(got).__name__
        )
    if got > _TIMEOUT:  # longer than the function was given: not seconds
        return _("{call} returned {got:.0f}: seconds, not milliseconds").format(call=call, got=got)
    if got <= 0:
        return _(
            "{call} returned {got}: start the clock before the POST, stop it at the delta"
        ).format(call=call, got=got)
    return None


def _whole_answer_problem(call: str, got: float, whole: float, buffered: bool) -> str | None:
    """Whether the seconds are off by about the whole answer's time: through a buffering
    nginx the first delta comes only with the whole answer, elsewhere long before."""
    if buffered and got < whole / 2:
        return _(
            "{call} returned {got:.2f} s, but that nginx lets the first delta through only "
            "with the whole answer (about {whole:.1f} s): time the first delta as it arrives "
            "through `url`"
        ).format(call=call, got=got, whole=whole)
    if not buffered and got > whole / 2:
        return _(
            "{call} returned {got:.2f} s, about the whole answer ({whole:.1f} s): stop the "
            "clock at the first `message` event, not at the end of the stream"
        ).format(call=call, got=got, whole=whole)
    return None


def _headers_problem(call: str, got: float) -> str | None:
    """Whether the seconds are too few for a first delta that comes _LATE after the headers."""
    if got < _LATE * 0.8:
        return _(
            "{call} returned {got:.2f} s, but its first delta comes {late} s after the "
            "stream's headers: you stopped the clock when the headers arrived, not at the "
            "first `message` event"
        ).format(call=call, got=got, late=_LATE)
    return None


async def check_read_to_the_end(read_to_the_end: Callable[[str, str], object]) -> Verdict:
    """Whether `await read_to_the_end(stream_url, token)` returns an answer's whole text
    through an nginx that cuts every stream quiet for longer than its proxy_read_timeout:
    reconnecting with `Last-Event-ID` until `done`, nothing lost and nothing twice."""
    if missing := nginx_missing():
        return unavailable(missing)
    expected = "".join(answer_tokens(_PROMPT)[:_SLOW_TOKENS])
    with (
        start_server(token_delay=_SLOW_PACE, max_tokens=_SLOW_TOKENS, retry_ms=50) as lab,
        start_nginx([lab.url], read_timeout=_PATIENCE) as proxy,
    ):
        answer_id = await ask_as_alice(lab, _PROMPT, proxy.url)
        call = "read_to_the_end(stream_url, token)"
        stream_url = f"{proxy.url}/sse/{answer_id}"
        got, problem = await _run(call, read_to_the_end, stream_url, lab.tokens["alice"])
        if problem is None:
            problem = _text_problem(call, got, expected, _reconnects(lab, answer_id))
    return verdict(problem, _("read_to_the_end came back after every cut, and lost nothing"))


def _text_problem(call: str, got: object, expected: str, reconnects: list[str]) -> str | None:
    if got == expected:
        return None
    if (problem := text_shape_problem(call, got)) is not None:
        return problem
    assert isinstance(got, str)  # text_shape_problem checked it is one
    if expected.startswith(got):
        return _(
            "{call} returned {got} of {expected} characters: nginx cut the quiet stream; "
            "reconnect with Last-Event-ID until the `done` event"
        ).format(call=call, got=len(got), expected=len(expected))
    if "" in reconnects:
        return _(
            "{call} returned {got} characters for {expected}: it reconnected without "
            "Last-Event-ID, so the server started again from the first delta; send the id of "
            "the last event you saw"
        ).format(call=call, got=len(got), expected=len(expected))
    return _("{call} returned {got!r}…, expected {expected!r}…").format(
        call=call, got=got[:60], expected=expected[:60]
    )


def _reconnects(lab: LabServer, answer_id: str) -> list[str]:
    """The Last-Event-ID of each GET of the answer after the first ("" where none was sent)."""
    gets = [r for r in lab.seen_requests(f"/sse/{answer_id}") if r["method"] == "GET"]
    sent = [{k.lower(): v for k, v in r["headers"].items()} for r in gets[1:]]
    return [headers.get("last-event-id", "") for headers in sent]


async def _run(
    call: str, function: Callable[..., object], *args: object
) -> tuple[object, str | None]:
    """The learner's function's result (awaited if async, within the time limit), or a problem."""
    try:
        result = await asyncio.wait_for(exercises.call(function, *args), _TIMEOUT)
    except TimeoutError:
        return None, _(
            "{call} did not return within {seconds:.0f} s: stop at the `done` event"
        ).format(call=call, seconds=_TIMEOUT)
    except aiohttp.ClientPayloadError:
        return None, _(
            "{call} raised ClientPayloadError: nginx cut the stream after {patience} s without "
            "news (proxy_read_timeout); catch it and reconnect"
        ).format(call=call, patience=_PATIENCE)
    except Exception as error:
        return None, _("{call} raised {error}: {message}").format(
            call=call, error=type(error).__name__, message=error
        )
    return result, None

"""Checks for notebook 08 (what real chat apps meet): telling how a stream ended, and
counting the tokens the model wrote after its reader left.

Each check starts lab servers of its own (the built-in model, and the one that fails
halfway through), runs the learner's function on what they stream to user alice, prints a
verdict and returns whether every case passed. Their paces are ones no notebook starts a
server with: `start_server` stops an earlier server started with the same arguments.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final

import aiohttp

from sse_lab.clients import fetch_event_source
from sse_lab.config import FAILING_MODEL, Upstream
from sse_lab.lab import exercises
from sse_lab.lab.exercises import Verdict, ask_as_alice, failed_definition_problem, verdict
from sse_lab.lab.i18n import N_, _
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.sse import ServerSentEvent

__all__ = ["check_how_it_ended", "check_tokens_after_leaving"]

_TIMEOUT: Final = 15.0  # seconds a learner's function (or a stream the check reads) gets
_PROMPT: Final = "What is SSE?"  # 103 tokens from the built-in model
_OUTCOMES: Final = ("finished", "failed", "cut off")
_PACE: Final = 0.005  # seconds between tokens: a stop or a dropped connection lands mid-answer
_STOP_AFTER: Final = 8  # events read before the DELETE of the stopped answer
_LEAVE_AFTER: Final = 7  # events read when the connection of the cut-off answer drops
# (server settings, deltas to read): the built-in model's whole answer, and one cut at 30
# tokens by max_tokens. Paced so that a reader who leaves on time comes back while the
# model still has a good part of the answer to write.
_LEAVING_CASES: Final[tuple[tuple[dict[str, Any], int, str], ...]] = (
    ({"token_delay": 0.011}, 5, N_("against the built-in model")),
    (
        {"token_delay": 0.05, "max_tokens": 30},
        20,
        N_("against a model that stops at {max_tokens} tokens"),
    ),
)


async def check_how_it_ended(how_it_ended: Callable[[list[ServerSentEvent]], object]) -> Verdict:
    """Whether `how_it_ended(events)` tells "finished", "failed" or "cut off" from the events
    a client read until the body ended: those of a finished answer, of one the failing model
    broke off, of one its user stopped, the first few of one whose connection dropped, and none."""
    if problem := failed_definition_problem(how_it_ended):
        return verdict(problem)
    with (
        start_server(token_delay=_PACE) as lab,
        start_server(token_delay=0, upstream=Upstream(model=FAILING_MODEL)) as failing,
    ):
        finished = await _read_answer(lab)
        failed = await _read_answer(failing)
        stopped = await _read_answer(lab, stop_after=_STOP_AFTER)
        cut = await _read_answer(lab, leave_after=_LEAVE_AFTER)
    cases: tuple[tuple[str, list[ServerSentEvent], str, str], ...] = (
        (
            _("the {n} events of a finished answer"),
            finished,
            "finished",
            _("they end with a `done` event: the answer finished"),
        ),
        (
            _("the {n} events of an answer the failing model broke off"),
            failed,
            "failed",
            _("they end with an `error` event, and no `done` came: the answer failed"),
        ),
        (
            _("the {n} events of an answer its user stopped (DELETE)"),
            stopped,
            "finished",
            _('a stop ends with `done`, finish_reason "stopped": the answer finished'),
        ),
        (
            _("the first {n} events of an answer, when the connection dropped"),
            cut,
            "cut off",
            _("no `done` or `error` event came, only deltas: the stream was cut off"),
        ),
        (
            _("an empty list of events"),
            [],
            "cut off",
            _("an empty list is a stream cut before any event: cut off"),
        ),
    )
    for what, events, expected, why in cases:
        call = _("{call} on {what}").format(
            call="how_it_ended(events)", what=what.format(n=len(events))
        )
        try:
            got = await exercises.call(how_it_ended, list(events))
        except Exception as error:
            return verdict(_raised_problem(call, error, events))
        if got not in _OUTCOMES:
            return verdict(
                _('{call} returned {got!r}: return "finished", "failed" or "cut off"').format(
                    call=call, got=got
                )
            )
        if got != expected:
            return verdict(
                _("{call} returned {got!r}, but {why}").format(call=call, got=got, why=why)
            )
    return verdict(
        None, _("how_it_ended tells finished, failed and cut off apart, a stop and no events too")
    )


def _raised_problem(call: str, error: Exception, events: list[ServerSentEvent]) -> str:
    """What the learner's function raised, with what to do when it is the empty list's
    IndexError (`events[-1]` of no events)."""
    if isinstance(error, IndexError) and not events:
        return _(
            "{call} raised IndexError: an empty list is a stream cut before any event: check "
            "for it before events[-1]"
        ).format(call=call)
    return _("{call} raised {error}: {message}").format(
        call=call, error=type(error).__name__, message=error
    )


async def _read_answer(
    lab: LabServer, *, stop_after: int = 0, leave_after: int = 0
) -> list[ServerSentEvent]:
    """The events of a new answer as alice's client holds them when the body ends: all of
    them; with `stop_after`, a DELETE sent once that many came (the stream then ends with
    `done`, stopped); with `leave_after`, that many, when the client drops the connection."""
    answer_id = await ask_as_alice(lab, _PROMPT)
    stream_url = f"{lab.url}/sse/{answer_id}"
    events: list[ServerSentEvent] = []
    async with (
        asyncio.timeout(_TIMEOUT),
        aiohttp.ClientSession(headers=lab.auth_header("alice")) as session,
    ):
        async for event in fetch_event_source(stream_url, session=session):
            events.append(event)
            if len(events) == leave_after:
                break
            if len(events) == stop_after:
                async with session.delete(stream_url) as response:
                    response.raise_for_status()
    return events


async def check_tokens_after_leaving(tokens_after_leaving: Callable[..., object]) -> Verdict:
    """Whether `await tokens_after_leaving(url, token, prompt, read)` POSTs the prompt to
    `/new`, reads `read` deltas of its stream, leaves (closes the connection, no stop), comes
    back and returns how many tokens the model wrote after it left."""
    if problem := failed_definition_problem(tokens_after_leaving):
        return verdict(problem)
    counts = []
    for changes, read, where in _LEAVING_CASES:
        with start_server(**changes) as lab:
            total = min(len(answer_tokens(_PROMPT)), lab.settings.max_tokens)
            # TRANSLATORS: a call of the learner's function, then where it was run
            call = _("{call} {where}").format(
                call=f"tokens_after_leaving(url, token, {_PROMPT!r}, {read})",
                where=_(where).format(max_tokens=total),
            )
            got, raised = await _run(call, tokens_after_leaving, lab, read)
            returned = time.time()  # on the clock of the server's request log
            problem = (
                _stop_problem(lab)
                or _read_on_problem(lab, read, total, returned)
                or raised
                or _number_problem(call, got)
                or _coming_back_problem(lab, read)
                or _count_problem(call, got, total, read, lab)
            )
        if problem:
            return verdict(problem)
        counts.append(str(got))
    # TRANSLATORS: {counts} is a list of numbers, as in "98, 10"
    message = _("tokens_after_leaving counts what the model wrote after its reader left: {counts}")
    return verdict(None, message.format(counts=", ".join(counts)))


async def _run(
    call: str, function: Callable[..., object], lab: LabServer, read: int
) -> tuple[object, str | None]:
    """The learner's function's result (awaited if async, within the time limit), or a problem."""
    try:
        args = (lab.url, lab.tokens["alice"], _PROMPT, read)
        return await asyncio.wait_for(exercises.call(function, *args), _TIMEOUT), None
    except TimeoutError:
        return None, _(
            "{call} did not return within {seconds:.0f} s: come back with Last-Event-ID, read "
            "to the `done` event, and return"
        ).format(call=call, seconds=_TIMEOUT)
    except Exception as error:
        return None, _("{call} raised {error}: {message}").format(
            call=call, error=type(error).__name__, message=error
        )


def _stream_gets(lab: LabServer) -> list[dict[str, Any]]:
    """The GETs of an answer's stream the server saw, oldest first."""
    return [r for r in lab.seen_requests("/sse/") if r["method"] == "GET"]


def _came_back(lab: LabServer) -> tuple[float, dict[str, str]] | None:
    """When the reader came back (the second GET of the answer's stream) and with which
    headers, their names in lower case; None if it did not."""
    gets = _stream_gets(lab)
    if len(gets) < 2:
        return None
    return gets[1]["time"], {name.lower(): value for name, value in gets[1]["headers"].items()}


def _stop_problem(lab: LabServer) -> str | None:
    """Whether the reader stopped the model instead of leaving: a DELETE of the answer, or
    the /ask design, whose answer ends with its request."""
    if deletes := [r for r in lab.seen_requests("/sse/") if r["method"] == "DELETE"]:
        return _(
            "the server saw DELETE {path}, which stops the model (a stopped answer's usage is "
            "null): leaving is closing the connection, and the model goes on writing"
        ).format(path=deletes[0]["url"])
    if lab.seen_requests("/ask"):
        return _(
            "the server saw GET /ask, whose answer ends when its reader leaves: POST the prompt "
            "to /new, and read the answer's stream_url"
        )
    return None


def _read_on_problem(lab: LabServer, read: int, total: int, returned: float) -> str | None:
    """Whether the reader's first GET went on past `read` deltas, to the answer's end. One
    that left on time came back while the model had most of the rest to write; one that
    read on came back as the answer ended, just before the function `returned` (it read
    again only what was stored)."""
    if (back := _came_back(lab)) is None or lab.running_answers():
        return None
    rest = (total - read) * lab.settings.token_delay
    if back[0] < returned - rest / 2:
        return None
    return _(
        "your first reading of the stream went on past {read} deltas: leave right after "
        "delta {read}, while the model is still writing"
    ).format(read=read)


def _number_problem(call: str, got: object) -> str | None:
    """What is wrong with `got` as a number of tokens, whatever the case, or None."""
    if got is None:
        return _("{call} returned None: return the number of tokens, an int").format(call=call)
    if isinstance(got, bool) or not isinstance(got, int):
        return _("{call} returned a {type}: return the number of tokens, an int").format(
            call=call, type=type(got).__name__
        )
    return None


def _coming_back_problem(lab: LabServer, read: int) -> str | None:
    """Whether the reader left and came back: two GETs of the answer's stream at least."""
    if len(_stream_gets(lab)) >= 2:
        return None
    return _(
        "the server saw no second GET of the answer's stream: read {read} deltas, leave "
        "(close the connection), then come back with Last-Event-ID and read to `done`"
    ).format(read=read)


def _count_problem(call: str, got: object, total: int, read: int, lab: LabServer) -> str | None:
    """Whether `got` is the `total` tokens of the answer less the `read` read before leaving."""
    if got == total - read:
        return None
    back = _came_back(lab)
    if got == total and back is not None and back[1].get("last-event-id", "0") == "0":
        return _(
            "{call} returned {got}, the whole answer's tokens: you came back without "
            "Last-Event-ID, so the server sent the answer again from its first delta"
        ).format(call=call, got=got)
    if got == total:
        return _(
            "{call} returned {got}, all the tokens of the answer: subtract the {read} the "
            "reader read before it left"
        ).format(call=call, got=got, read=read)
    return _("{call} returned {got}, expected {expected}").format(
        call=call, got=got, expected=total - read
    )

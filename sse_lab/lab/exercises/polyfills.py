"""Checks for notebook 05 (the polyfill workaround): reading an event stream answered to a POST,
and collecting the text of an OpenAI-style `chat.completion.chunk` stream.

`check_post_events` starts a small event-stream server of its own on 127.0.0.1 (a free
port) that only answers a POST with the right header and JSON body, in 7-byte chunks, and
remembers why it refused a request, so that the verdict can name the mistake.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from aiohttp import web

from sse_lab.lab.exercises import Verdict, call, verdict, with_rule
from sse_lab.lab.i18n import N_, _
from sse_lab.sse import EventStreamParser, ServerSentEvent

__all__ = ["check_collect_text", "check_post_events"]

_TIMEOUT: Final = 10.0  # seconds a learner's function gets before the check gives up
_TOKEN: Final = "check-token"
_WORDS: Final = ("Server", "-Sent", " Events", " over", " POST")
_PAUSE: Final = 0.001  # seconds between two pieces of the stream, so that they come apart
# What a reader needs when events go missing or lose their fields at chunk boundaries
_ONE_PARSER: Final = N_(
    "an event split across chunks is lost: keep one parser for the whole stream, feed it "
    "every chunk and keep what each feed returns"
)


def _stream_bytes(words: list[str]) -> bytes:
    """The test stream: one event per word, plus what trips a hand-made parser (CRLF, a
    comment, a multi-line `data`, a named event)."""
    head = b"retry: 1000\r\n: a comment to ignore\r\n"
    events = b"".join(
        ServerSentEvent(data=json.dumps({"word": word}), id=str(n)).encode()
        for n, word in enumerate(words, 1)
    )
    tail = ServerSentEvent(data="two\nlines", event="done", id=str(len(words) + 1)).encode()
    return head + events + tail


_REFUSALS: Final = web.AppKey("refusals", list[str])  # why the check's server said no


def _refuse(request: web.Request, status: int, why: str) -> web.Response:
    request.app[_REFUSALS].append(
        _("the server answered {status}: {why}").format(status=status, why=why)
    )
    return web.json_response({"error": why}, status=status)


async def _post_only_stream(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Authorization") != f"Bearer {_TOKEN}":
        why = _("send the headers you were given (Authorization: Bearer ...)")
        return _refuse(request, 401, why)
    if request.content_type != "application/json":
        why = _(
            "the body came as {content_type}: send it with json=body, not data= "
            "(Content-Type: application/json)"
        ).format(content_type=request.content_type)
        return _refuse(request, 415, why)
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    words = body.get("words") if isinstance(body, dict) else None
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        why = _("send the body you were given, {body}, as JSON").format(body='{"words": [...]}')
        return _refuse(request, 400, why)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    payload = _stream_bytes(words)
    for start in range(0, len(payload), 7):  # 7-byte pieces: lines and events split anywhere
        await response.write(payload[start : start + 7])
        await asyncio.sleep(_PAUSE)  # the reader gets each piece as a chunk of its own
    return response


async def check_post_events(
    post_events: Callable[[str, dict[str, Any], dict[str, str]], object],
) -> Verdict:
    """Whether `await post_events(url, body, headers)` POSTs the JSON body with the headers
    and returns every event of the streamed response, parsed as a browser would."""
    words = list(_WORDS)
    expected = EventStreamParser().feed(_stream_bytes(words))
    app = web.Application()
    app[_REFUSALS] = []
    app.router.add_post("/stream", _post_only_stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/stream"
        headers = {"Authorization": f"Bearer {_TOKEN}"}
        try:
            got = await asyncio.wait_for(
                call(post_events, url, {"words": words}, headers), _TIMEOUT
            )
        except TimeoutError:
            return verdict(
                _("post_events did not return within {seconds:.0f} s").format(seconds=_TIMEOUT)
            )
        except Exception as error:
            return verdict(_refused(app, _("post_events raised {error!r}").format(error=error)))
    finally:
        await runner.cleanup()
    problem = _events_problem(got, expected)
    return verdict(
        problem and _refused(app, problem), _("post_events reads a streamed POST response")
    )


def _refused(app: web.Application, problem: str) -> str:
    """The problem, with the reason the check's server refused a request, if it did."""
    refusals = app[_REFUSALS]
    if not refusals:
        return problem
    # TRANSLATORS: a problem, then in brackets why the check's server refused a request
    return _("{problem} ({refusal})").format(problem=problem, refusal=refusals[-1])


def _events_problem(got: object, expected: list[ServerSentEvent]) -> str | None:
    if got is None:
        return _("post_events returned None: return the list of events")
    if not isinstance(got, list):
        return _("post_events returned a {type}: return a list of events").format(
            type=type(got).__name__
        )
    if not got:
        return _("no events: {hint}").format(hint=_(_ONE_PARSER))
    for n, item in enumerate(got, 1):
        if not isinstance(item, ServerSentEvent):
            return _("item {n} is a {type}, not a ServerSentEvent").format(
                n=n, type=type(item).__name__
            )
    if _pieces_of(got, expected):
        hint: str | None = _(_ONE_PARSER)
    else:
        hint = _left_out_hint(got, expected)
    for n, (mine, theirs) in enumerate(zip(got, expected, strict=False), 1):
        if (mine.event, mine.data, mine.id) != (theirs.event, theirs.data, theirs.id):
            problem = _("event {n} is {got!r}, expected {expected!r}").format(
                n=n, got=mine, expected=theirs
            )
            return with_rule(problem, hint)
    if len(got) != len(expected):
        problem = _("{got} events, expected {expected}").format(
            got=len(got), expected=len(expected)
        )
        return with_rule(problem, hint)
    return None


def _pieces_of(got: list[ServerSentEvent], expected: list[ServerSentEvent]) -> bool:
    """Whether `got` looks like what a new parser per chunk keeps: some of the expected
    events in order, with a `message` among those lost or changed (an `id:` line, say, that
    came in the chunk before)."""
    datas = iter(event.data for event in expected)
    in_order = all(event.data in datas for event in got)
    return in_order and any(e.event == "message" and e not in got for e in expected)


def _left_out_hint(got: list[ServerSentEvent], expected: list[ServerSentEvent]) -> str | None:
    """The hint when exactly the events other than `message` are missing (None otherwise)."""
    others = [event for event in expected if event.event != "message"]
    if others and got == [event for event in expected if event not in others]:
        # TRANSLATORS: between two event types in a list, as in "`done`, `error`"
        kinds = _(", ").join(sorted({f"`{event.event}`" for event in others}))
        return _("return every event, whatever its type ({kinds} too)").format(kinds=kinds)
    return None


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> ServerSentEvent:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return ServerSentEvent(
        data=json.dumps({"object": "chat.completion.chunk", "choices": [choice]})
    )


_COMPLETION: Final = (
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Stream"}),
    _chunk({"content": "ed"}),
    _chunk({"content": None}),  # some providers send null content
    _chunk({"content": " text"}),
    _chunk({}, "stop"),
    ServerSentEvent(data=json.dumps({"object": "chat.completion.chunk", "choices": []})),  # usage
    ServerSentEvent(data="[DONE]"),
)
_COMPLETION_TEXT: Final = "Streamed text"


async def check_collect_text(
    collect_text: Callable[[AsyncIterator[ServerSentEvent]], object],
) -> Verdict:
    """Whether `await collect_text(events)` joins the chunks' `delta.content` and stops at
    `data: [DONE]` without reading further."""
    read_past_done = False

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal read_past_done
        for event in _COMPLETION:
            yield event
        read_past_done = True
        yield _chunk({"content": " (after [DONE])"})

    try:
        got = await asyncio.wait_for(call(collect_text, events()), _TIMEOUT)
    except TimeoutError:
        return verdict(
            _("collect_text did not return within {seconds:.0f} s").format(seconds=_TIMEOUT)
        )
    except Exception as error:
        raised = _("collect_text raised {error!r}").format(error=error)
        hint = _collect_hint(error)
        return verdict(with_rule(raised, hint))
    if got is None:
        problem: str | None = _("collect_text returned None: return the text")
    elif read_past_done:
        problem = _("collect_text kept reading after data: [DONE]: stop there")
    elif got != _COMPLETION_TEXT:
        problem = _("collect_text returned {got!r}, expected {expected!r}").format(
            got=got, expected=_COMPLETION_TEXT
        )
    else:
        problem = None
    return verdict(problem, _("collect_text joins the deltas and stops at [DONE]"))


def _collect_hint(error: Exception) -> str | None:
    """What a chat completion stream holds that the learner's code did not expect."""
    if isinstance(error, TypeError) and "NoneType" in str(error):
        return _(
            'a chunk has "content": null, which is None in Python (a default in .get() does'
            ' not replace it); use .get("content") or ""'
        )
    if isinstance(error, KeyError) and error.args == ("message",):
        return _(
            "a streamed chunk has `delta`, not `message` (only a whole, unstreamed reply "
            'has "message"): read choice["delta"]'
        )
    if isinstance(error, KeyError) and error.args == ("content",):
        return _(
            'the last chunk\'s delta is {empty}, with no "content"; use .get("content") or ""'
        ).format(empty="{}")
    if isinstance(error, IndexError):
        return _('the usage chunk has "choices": [], so [0] fails; loop over the choices')
    if isinstance(error, json.JSONDecodeError):
        return _("data: [DONE] is not JSON; stop at it before json.loads")
    return None

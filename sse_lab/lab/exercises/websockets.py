"""Checks for notebook 03 (SSE vs WebSockets): bytes through a text-only event stream, and
resuming an answer over a WebSocket that drops, which no browser API does for you.

`check_follow_answer` starts a small WebSocket server of its own on 127.0.0.1 (a free port)
that speaks the lab's `follow` message and drops every connection after a few deltas.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import WSMsgType, web

from sse_lab.lab.exercises import Verdict, call, values_in_traceback, verdict, with_rule
from sse_lab.lab.i18n import _
from sse_lab.sse import EventStreamParser, ServerSentEvent

__all__ = ["check_binary_over_sse", "check_follow_answer"]

_TIMEOUT: Final = 10.0  # seconds a learner's function gets before the check gives up

_PAYLOADS: Final = (
    b"",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # the start of a PNG file: CR, LF, NUL, 0x89
    bytes(range(256)),
    "héllo, wörld".encode(),  # valid UTF-8 must come back byte for byte too
    b"".join(hashlib.sha256(bytes([n])).digest() for n in range(32)),  # 1 KiB of noise
)


def check_binary_over_sse(
    encode_binary: Callable[[bytes], object], decode_binary: Callable[[ServerSentEvent], object]
) -> Verdict:
    """Whether bytes survive the trip `encode_binary(payload)` -> event stream -> parser ->
    `decode_binary(event)`, for payloads that are not text."""
    wire = b""
    for n, payload in enumerate(_PAYLOADS, 1):
        try:
            encoded = encode_binary(payload)
        except Exception as error:
            raised = _("encode_binary(payload {n}) raised {error!r}").format(n=n, error=error)
            return verdict(with_rule(raised, _encode_mistake(error)))
        if encoded is None:
            return verdict(_("encode_binary returned None: return the event's bytes"))
        if not isinstance(encoded, bytes):
            return verdict(
                _("encode_binary returned a {type}, not bytes").format(type=type(encoded).__name__)
            )
        wire += encoded
    parser = EventStreamParser()
    events = [
        event for start in range(0, len(wire), 5) for event in parser.feed(wire[start : start + 5])
    ]
    if len(events) != len(_PAYLOADS):
        return verdict(
            _(
                "the parser found {events} events for {payloads} payloads: does each encoded "
                "event end with a blank line, with no stray blank line inside?"
            ).format(events=len(events), payloads=len(_PAYLOADS))
        )
    for n, (payload, event) in enumerate(zip(_PAYLOADS, events, strict=True), 1):
        try:
            decoded = decode_binary(event)
        except Exception as error:
            return verdict(_("decode_binary(event {n}) raised {error!r}").format(n=n, error=error))
        if decoded is None:
            return verdict(_("decode_binary returned None: return the bytes"))
        if decoded != payload:
            return verdict(
                _("payload {n} came back different ({got} instead of {sent}): {mistake}").format(
                    n=n,
                    got=_short(decoded),
                    sent=_short(payload),
                    mistake=_decode_mistake(decoded, event, wire),
                )
            )
    ratio = len(wire) / sum(len(payload) for payload in _PAYLOADS)
    return verdict(
        None,
        _("every payload came back intact; {ratio:.2f} bytes sent per byte").format(ratio=ratio),
    )


def _encode_mistake(error: Exception) -> str | None:
    """The hint when the learner gave ServerSentEvent bytes as `data` (None otherwise): the
    TypeError that raises ("a bytes-like object is required, not 'str'") reads the wrong way."""
    if any(
        isinstance(value, ServerSentEvent) and isinstance(value.data, bytes)
        for value in values_in_traceback(error)
    ):
        return _(
            "`data` must be a str, not bytes: base64-encode the payload and decode the "
            "result to text, base64.b64encode(payload).decode('ascii')"
        )
    return None


def _decode_mistake(decoded: object, event: ServerSentEvent, wire: bytes) -> str:
    """What went wrong on the way back, told from what was sent and what came out."""
    if isinstance(decoded, str):
        return _("decode_binary returned a str: return bytes")
    if not wire.isascii():
        return _("CR, LF and bytes that are not UTF-8 do not survive a text stream: send text")
    if decoded == event.data.encode():
        return _(
            "the event arrived intact, but decode_binary returned its text as it is: undo "
            "encode_binary's encoding (for base64: base64.b64decode(event.data))"
        )
    return _("the events arrived intact, so look at decode_binary: it does not undo encode_binary")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_TOKEN: Final = "check-token"
_ANSWER_ID: Final = "ans_check"
_WORDS: Final = (
    "Web", "Sockets", " leave", " reconnection", " to", " you", ":", " remember",
    " the", " last", " seq", ",", " then", " ask", " for", " the", " rest", ".",
)  # fmt: skip
_DROP_AFTER: Final = 4  # deltas per connection before the server drops it
_MAX_CONNECTIONS: Final = 3 * len(_WORDS)  # beyond this a client is going round in circles
# The message that asks for an answer's deltas after the `after`-th, as the hints write it
# (braces in a message would be placeholders: it goes in as one)
_FOLLOW: Final = '{"type": "follow", "id": answer_id, "after": n}'
_FOLLOW_LAST: Final = '{"type": "follow", "id": answer_id, "after": <last seq>}'


@dataclass
class _FlakyServer:
    """Streams _WORDS in answer to `follow`, dropping each connection after a few deltas;
    records the `after` of every follow, and what it refused."""

    afters: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    connections: int = 0
    sockets: set[web.WebSocketResponse] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {_TOKEN}":
            self.refused.append(_("a connection without the Authorization header"))
            return web.json_response({"error": "send Authorization: Bearer <token>"}, status=401)
        self.connections += 1
        if self.connections > _MAX_CONNECTIONS:
            return web.json_response({"error": "too many connections"}, status=429)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            after = await self._follow_after(ws)
            if after is not None:
                await self._stream(ws, request, after)
        finally:
            self.sockets.discard(ws)
        return ws

    async def _follow_after(self, ws: web.WebSocketResponse) -> int | None:
        """The `after` of the client's first message, if it is a valid `follow`."""
        message = await ws.receive(timeout=_TIMEOUT)
        follow: Any = json.loads(message.data) if message.type is WSMsgType.TEXT else None
        if not isinstance(follow, dict) or follow.get("type") != "follow":
            self.refused.append(_("a first message {data!r}").format(data=message.data))
        elif follow.get("id") != _ANSWER_ID:
            self.refused.append(f'"id": {follow.get("id")!r}')
        elif not isinstance(after := follow.get("after"), int) or not 0 <= after <= len(_WORDS):
            self.refused.append(f'"after": {follow.get("after")!r}')
        else:
            self.afters.append(after)
            return after
        await ws.close()
        return None

    async def _stream(self, ws: web.WebSocketResponse, request: web.Request, after: int) -> None:
        await ws.send_json({"type": "answer", "id": _ANSWER_ID})
        last = min(after + _DROP_AFTER, len(_WORDS))
        for seq in range(after + 1, last + 1):
            await ws.send_json({"type": "delta", "seq": seq, "text": _WORDS[seq - 1]})
        if last < len(_WORDS):
            await self._drop(ws, request)
            return
        await ws.send_json({"type": "done", "id": _ANSWER_ID, "finish_reason": "stop"})
        async for _message in ws:  # as the lab's /ws does, the socket stays open for more messages
            pass

    async def _drop(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        """Every other time a clean close (a server restarting), else a cut with no goodbye."""
        if self.connections % 2 == 0:
            await ws.close(code=1012, message=b"service restart")
        elif request.transport is not None:
            request.transport.close()

    async def close_sockets(self, app: web.Application) -> None:
        """On shutdown: close the sockets a client left open."""
        for ws in list(self.sockets):
            await ws.close()


async def check_follow_answer(
    follow_answer: Callable[[str, dict[str, str], str], object],
) -> Verdict:
    """Whether `await follow_answer(ws_url, headers, answer_id)` returns the whole answer over
    a WebSocket that keeps dropping, asking each time for the deltas after the last one seen."""
    server = _FlakyServer()
    app = web.Application()
    app.router.add_get("/ws", server.handle)
    app.on_shutdown.append(server.close_sockets)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"
        headers = {"Authorization": f"Bearer {_TOKEN}"}
        try:
            got = await asyncio.wait_for(call(follow_answer, url, headers, _ANSWER_ID), _TIMEOUT)
        except TimeoutError:
            return verdict(
                _afters_problem(server)
                or _(
                    "follow_answer did not return within {seconds:.0f} s: does it stop at `done`?"
                ).format(seconds=_TIMEOUT)
            )
        except Exception as error:
            return verdict(
                _afters_problem(server) or _("follow_answer raised {error!r}").format(error=error)
            )
    finally:
        await runner.cleanup()
    return verdict(
        _afters_problem(server) or _text_problem(got, server),
        _("follow_answer resumes after every drop"),
    )


def _afters_problem(server: _FlakyServer) -> str | None:
    if server.refused:
        return _("the server refused {refused}: send {follow}, with the headers").format(
            refused=server.refused[0], follow=_FOLLOW
        )
    expected = list(range(0, len(_WORDS), _DROP_AFTER))
    if server.afters != expected[: len(server.afters)]:
        return _(
            'your follow messages had "after" = {got}, expected {expected}: send the seq of '
            "the last delta you received"
        ).format(got=_short(server.afters), expected=expected)
    return None


def _text_problem(got: object, server: _FlakyServer) -> str | None:
    if got is None:
        return _("follow_answer returned None: return the answer's text")
    if got == "".join(_WORDS):
        return None
    problem = _("follow_answer returned {got}, expected {expected}").format(
        got=_short(got), expected=_short("".join(_WORDS))
    )
    if len(server.afters) == 1:
        return _(
            "{problem}: the server dropped your only connection after {deltas} deltas; "
            "connect again and send {follow} until `done` arrives (a WebSocket never "
            "reconnects by itself)"
        ).format(problem=problem, deltas=_DROP_AFTER, follow=_FOLLOW_LAST)
    return problem

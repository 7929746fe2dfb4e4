"""Opening an SSE response, and the answer stream's events, shared by every streaming route."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from functools import partial
from typing import Any

from aiohttp import web

from sse_lab.server.bodies import to_json
from sse_lab.server.guards import close_if_quiet
from sse_lab.server.state import OPEN_STREAMS, SETTINGS
from sse_lab.sse import ServerSentEvent, encode_comment, encode_retry
from sse_lab.stores.base import MAX_SEQ, Batch, Delta, End, Outcome

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tells nginx not to buffer the stream
}
# Sent for an empty batch. Its timer is the answer's Tail (stores/base.py): one per answer,
# not a ping task per response as in aiohttp-sse.
HEARTBEAT = encode_comment("heartbeat")


def stream_head() -> web.StreamResponse:
    """The answer to HEAD on a stream route: a stream's headers, no body, nothing started."""
    return web.Response(headers=SSE_HEADERS)


class EventStream:
    """An open SSE response. `send` waits while the client's buffer is full; a client that
    takes nothing for `stalled_reader_timeout` s is cut off (ConnectionResetError)."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self.request = request
        self.response = response
        self._stall_timeout = request.app[SETTINGS].stalled_reader_timeout

    async def send(self, data: bytes) -> None:
        """Write events (or a comment), already encoded (`batch_bytes`), to the client."""
        if keeps_up(self.request, data):
            await self.response.write(data)
            return
        try:
            async with asyncio.timeout(self._stall_timeout):
                await self.response.write(data)
        except TimeoutError:
            if self.request.transport is not None:
                self.request.transport.abort()
            raise ConnectionResetError("the client took nothing for too long") from None


def keeps_up(request: web.Request, data: bytes) -> bool:
    """Whether writing `data` cannot wait, so needs no timer (a speed trick, see
    benchmarks/README.md): the socket has taken all that was written so far, and `data`
    (under 32 KiB) cannot fill the transport's buffer to its high-water mark (64 KiB), the
    only point at which aiohttp's `write` waits."""
    transport = request.transport
    return transport is not None and not transport.get_write_buffer_size() and len(data) < 1 << 15


@asynccontextmanager
async def event_stream(request: web.Request) -> AsyncIterator[EventStream]:
    """An open SSE response (headers and a `retry:` field sent) to send events to.

    A client leaving ends the block quietly; while open, the stream counts in OPEN_STREAMS.
    After the block, a client that takes nothing more for `stalled_reader_timeout` s is
    cut off (see `end_stream`).
    """
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    streams = request.app[OPEN_STREAMS]
    streams.add(response)
    settings = request.app[SETTINGS]
    stream = EventStream(request, response)
    try:
        await stream.send(encode_retry(settings.retry_ms))
        yield stream
        await end_stream(request, response, settings.stalled_reader_timeout)
    except ConnectionResetError:
        pass  # the client left
    finally:
        streams.discard(response)


async def end_stream(request: web.Request, response: web.StreamResponse, seconds: float) -> None:
    """End the body; a client that takes nothing of the rest, and sends no next request,
    is cut off after `seconds`, so that its socket and buffers are freed."""
    try:
        async with asyncio.timeout(seconds):
            await response.write_eof()  # waits only while the server's own buffer is full
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()
        return
    close_if_quiet(request, seconds)


def batch_bytes(batch: Batch) -> bytes:
    """A batch as one write (`events_of`), encoded once, for all the readers it is given to."""
    if batch.wire is None:
        batch.wire = events_of(batch)
    return batch.wire


def events_of(batch: Batch, **tags: str) -> bytes:
    """A batch's events (with `tags` first in each one's data), or a heartbeat comment when
    it has none."""
    if not batch.pieces:
        return HEARTBEAT
    encode = partial(answer_event, **tags) if tags else answer_event
    return b"".join(map(encode, batch.pieces))


def answer_event(item: Delta | End, /, **tags: str) -> bytes:
    """An answer's piece as an SSE event: `id: n` and `{"delta": ...}`, then `done` (see
    `done_fields`) or `error` (an end the store does not hold has no `id`: the client's last
    id stays the last delta's). `tags` come first in the data: `answer=ID` on a stream that
    carries several answers."""
    if isinstance(item, Delta):
        data = to_json({**tags, "delta": item.text})
        return ServerSentEvent(data=data, id=str(item.seq)).encode()
    if item.outcome.status == "error":
        seq = str(item.seq) if item.kept else None
        data = to_json({**tags, "message": item.outcome.error})
        return ServerSentEvent(data=data, event="error", id=seq).encode()
    data = to_json({**tags, **done_fields(item.outcome)})
    return ServerSentEvent(data=data, event="done", id=str(item.seq)).encode()


def done_fields(outcome: Outcome) -> dict[str, Any]:
    """What the end of a finished answer tells: its finish_reason, and the model's token
    counts (`usage`: null if the model reported none, as for an answer stopped early)."""
    usage = asdict(outcome.usage) if outcome.usage else None
    return {"finish_reason": outcome.finish_reason, "usage": usage}


def parse_last_event_id(request: web.Request) -> int:
    """The sequence number a reconnecting client saw last (0 for a first connection): the
    `Last-Event-ID` header, else `?lastEventId=` (npm's event-source-polyfill sends it there).
    The header wins when both are sent."""
    raw = request.headers.get("Last-Event-ID", request.query.get("lastEventId", "")).strip()
    return parse_seq(raw, "Last-Event-ID") if raw else 0


def parse_seq(raw: str, name: str) -> int:
    """`raw` as the sequence number a reader saw last, 0 to MAX_SEQ; else a 400 on `name`."""
    # Length first: int() of thousands of digits is slow, and refused beyond 4,300.
    too_long = len(raw) > len(str(MAX_SEQ))
    if too_long or not raw.isascii() or not raw.isdigit() or int(raw) > MAX_SEQ:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number up to {MAX_SEQ}")
    return int(raw)

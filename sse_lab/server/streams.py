"""Opening an SSE response, and the answer stream's events, shared by every streaming route."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from sse_lab.answers import Delta, End
from sse_lab.server.state import OPEN_STREAMS, SETTINGS
from sse_lab.sse import ServerSentEvent, encode_comment, encode_retry

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tells nginx not to buffer the stream
}
HEARTBEAT = encode_comment("heartbeat")


@asynccontextmanager
async def event_stream(request: web.Request) -> AsyncIterator[web.StreamResponse]:
    """An open SSE response (headers and a `retry:` field sent) to write events to.

    A client leaving ends the block quietly; while open, the stream counts in OPEN_STREAMS.
    """
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    streams = request.app[OPEN_STREAMS]
    streams.add(response)
    try:
        await response.write(encode_retry(request.app[SETTINGS].retry_ms))
        yield response
    except ConnectionResetError:
        pass  # the client left
    finally:
        streams.discard(response)


@functools.lru_cache(maxsize=4096)  # the readers of one answer share each piece's bytes
def answer_event(item: Delta | End) -> bytes:
    """An answer's piece as CONTRACT.md spells it: deltas, then `done` or `error`."""
    if isinstance(item, Delta):
        return ServerSentEvent(data=json.dumps({"delta": item.text}), id=str(item.seq)).encode()
    if item.status == "error":
        return ServerSentEvent(
            data=json.dumps({"message": item.error}), event="error", id=str(item.seq)
        ).encode()
    return ServerSentEvent(
        data=json.dumps({"finish_reason": item.finish_reason}), event="done", id=str(item.seq)
    ).encode()


def parse_last_event_id(request: web.Request) -> int:
    """The sequence number a reconnecting client saw last (0 for a first connection)."""
    raw = request.headers.get("Last-Event-ID", "").strip()
    if not raw:
        return 0
    if not raw.isascii() or not raw.isdigit():
        raise web.HTTPBadRequest(text=f"Last-Event-ID must be a whole number, not {raw!r}")
    return int(raw)

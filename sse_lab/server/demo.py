"""`GET /sse`: the demo stream every SSE tutorial starts with, resumable by `Last-Event-ID`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sse_lab.server.bodies import to_json
from sse_lab.server.streams import HEARTBEAT, event_stream, parse_last_event_id, stream_head
from sse_lab.sse import ServerSentEvent

routes = web.RouteTableDef()

HEARTBEAT_EVERY = 5  # a comment line after every fifth event, as a keep-alive would be


def _bounded_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    too_long = len(raw) > len(str(high))  # before int(): thousands of digits are slow
    if too_long or not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number from {low} to {high}")
    return int(raw)


@routes.get("/sse")
async def demo_stream(request: web.Request) -> web.StreamResponse:
    """Events 1..count, `interval_ms` apart, then `event: done`; `drop_after=k` cuts the
    connection after k events (to watch a client reconnect); a resumed stream starts after
    `Last-Event-ID`, and one that has seen everything gets 204."""
    count = _bounded_int(request, "count", 10, 1, 10_000)
    interval_ms = _bounded_int(request, "interval_ms", 500, 0, 60_000)
    drop_after = _bounded_int(request, "drop_after", 0, 0, 10_000)
    after = parse_last_event_id(request)
    if after > count:
        return web.Response(status=204)  # the client saw `done`: stop reconnecting
    if request.method == "HEAD":
        return stream_head()
    async with event_stream(request) as stream:
        for n in range(after + 1, count + 1):
            event = ServerSentEvent(data=to_json({"n": n, "of": count}), id=str(n))
            await stream.send(event.encode())
            if n % HEARTBEAT_EVERY == 0:
                await stream.send(HEARTBEAT)
            if n == count:
                break
            await asyncio.sleep(interval_ms / 1000)
            if drop_after and n - after >= drop_after and request.transport is not None:
                request.transport.close()  # as a flaky network would: no goodbye
                return stream.response
        done = ServerSentEvent(data=to_json({"events": count}), event="done", id=str(count + 1))
        await stream.send(done.encode())
    return stream.response

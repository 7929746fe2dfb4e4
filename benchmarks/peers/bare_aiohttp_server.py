"""The chat job on bare aiohttp: a `StreamResponse` and one `write` per delta, framed by hand.

Run: `python benchmarks/peers/bare_aiohttp_server.py --port 8001 --model-url URL/v1`.
"""

from __future__ import annotations

import json

from _job import CLIENT, PROMPTS, deltas, serve_aiohttp
from aiohttp import web

HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


async def stream(request: web.Request) -> web.StreamResponse:
    prompt = PROMPTS.get(request.match_info["id"])
    if prompt is None:
        raise web.HTTPNotFound(text="no such answer")
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    seq = 0
    async for seq, text in deltas(request.app[CLIENT], prompt):
        await response.write(f"id: {seq}\ndata: {json.dumps({'delta': text})}\n\n".encode())
    done = json.dumps({"finish_reason": "stop"})
    await response.write(f"event: done\nid: {seq + 1}\ndata: {done}\n\n".encode())
    return response


if __name__ == "__main__":
    serve_aiohttp(stream, __doc__)

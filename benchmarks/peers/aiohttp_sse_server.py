"""The chat job on aiohttp with aiohttp-sse: `sse_response` and one `send` per delta.

Run: `python benchmarks/peers/aiohttp_sse_server.py --port 8001 --model-url URL/v1`.
"""

from __future__ import annotations

import json

from _job import CLIENT, PROMPTS, deltas, serve_aiohttp
from aiohttp import web
from aiohttp_sse import sse_response


async def stream(request: web.Request) -> web.StreamResponse:
    prompt = PROMPTS.get(request.match_info["id"])
    if prompt is None:
        raise web.HTTPNotFound(text="no such answer")
    async with sse_response(request) as response:
        seq = 0
        async for seq, text in deltas(request.app[CLIENT], prompt):
            await response.send(json.dumps({"delta": text}), id=str(seq))
        await response.send(json.dumps({"finish_reason": "stop"}), id=str(seq + 1), event="done")
    return response


if __name__ == "__main__":
    serve_aiohttp(stream, __doc__)

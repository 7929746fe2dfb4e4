"""The chat job on aiohttp with aiohttp-sse: `sse_response` and one `send` per delta.

Run: `python benchmarks/peers/aiohttp_sse_server.py --port 8001 --model-url URL/v1`.
"""

from __future__ import annotations

import json

import openai
from _job import PROMPTS, deltas, keep, model_client, options
from aiohttp import web
from aiohttp_sse import sse_response

routes = web.RouteTableDef()
CLIENT = web.AppKey("client", openai.AsyncOpenAI)


@routes.post("/new")
async def new(request: web.Request) -> web.Response:
    answer_id = keep((await request.json()).get("prompt"))
    if answer_id is None:
        return web.json_response({"error": 'send {"prompt": "..."}'}, status=400)
    return web.json_response({"id": answer_id, "stream_url": f"/sse/{answer_id}"}, status=201)


@routes.get("/sse/{id}")
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


def main() -> None:
    args = options(__doc__)
    app = web.Application()
    app[CLIENT] = model_client(args.model_url)
    app.add_routes(routes)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

"""The chat job on bare aiohttp: a `StreamResponse` and one `write` per delta, framed by hand.

Run: `python benchmarks/peers/bare_aiohttp_server.py --port 8001 --model-url URL/v1`.
"""

from __future__ import annotations

import json

import openai
from _job import PROMPTS, deltas, keep, model_client, options
from aiohttp import web

routes = web.RouteTableDef()
CLIENT = web.AppKey("client", openai.AsyncOpenAI)
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


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
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    seq = 0
    async for seq, text in deltas(request.app[CLIENT], prompt):
        await response.write(f"id: {seq}\ndata: {json.dumps({'delta': text})}\n\n".encode())
    done = json.dumps({"finish_reason": "stop"})
    await response.write(f"event: done\nid: {seq + 1}\ndata: {done}\n\n".encode())
    return response


def main() -> None:
    args = options(__doc__)
    app = web.Application()
    app[CLIENT] = model_client(args.model_url)
    app.add_routes(routes)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

"""The chat job on Starlette with sse-starlette, served by uvicorn (asyncio loop, h11).

`EventSourceResponse` over an async generator that yields one event per delta.
Run: `python benchmarks/peers/starlette_sse_server.py --port 8001 --model-url URL/v1`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import uvicorn
from _job import PROMPTS, deltas, keep, model_client, options
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def new(request: Request) -> Response:
    answer_id = keep((await request.json()).get("prompt"))
    if answer_id is None:
        return JSONResponse({"error": 'send {"prompt": "..."}'}, status_code=400)
    return JSONResponse({"id": answer_id, "stream_url": f"/sse/{answer_id}"}, status_code=201)


async def stream(request: Request) -> Response:
    prompt = PROMPTS.get(request.path_params["id"])
    if prompt is None:
        return JSONResponse({"error": "no such answer"}, status_code=404)

    async def events() -> AsyncIterator[dict[str, str]]:
        seq = 0
        async for seq, text in deltas(request.app.state.client, prompt):
            yield {"id": str(seq), "data": json.dumps({"delta": text})}
        yield {"event": "done", "id": str(seq + 1), "data": json.dumps({"finish_reason": "stop"})}

    return EventSourceResponse(events())


def main() -> None:
    args = options(__doc__)
    app = Starlette(routes=[Route("/new", new, methods=["POST"]), Route("/sse/{id}", stream)])
    app.state.client = model_client(args.model_url)
    # No access log: the other servers compared write none either.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="asyncio",
        http="h11",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()

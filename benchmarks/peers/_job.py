"""The job every peer server does, whatever its SSE library: keep a prompt, stream its answer.

`POST /new` keeps the prompt in memory (a dict: no database, no resume, no sharing of an
answer between readers) and returns an id; `GET /sse/{id}` asks the model with the openai
SDK, as its documentation shows, and relays each delta as it comes.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import openai
from aiohttp import web

PROMPTS: dict[str, str] = {}  # answer id -> prompt, for as long as the process runs
CLIENT = web.AppKey("client", openai.AsyncOpenAI)  # the aiohttp peers' SDK client


def keep(prompt: object) -> str | None:
    """Keep a prompt under a new answer id; None if it is not a non-empty string."""
    if not isinstance(prompt, str) or not prompt.strip():
        return None
    answer_id = f"ans_{secrets.token_urlsafe(8)}"
    PROMPTS[answer_id] = prompt
    return answer_id


async def deltas(client: openai.AsyncOpenAI, prompt: str) -> AsyncIterator[tuple[int, str]]:
    """The answer's text deltas, numbered from 1, straight from the model's stream."""
    stream = await client.chat.completions.create(
        model="sse-lab-tiny", messages=[{"role": "user", "content": prompt}], stream=True
    )
    seq = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seq += 1
            yield seq, chunk.choices[0].delta.content


def options(description: str | None) -> argparse.Namespace:
    """The command line every peer takes: where to listen and where the model is."""
    cli = argparse.ArgumentParser(description=description)
    cli.add_argument("--port", type=int, default=8001)
    cli.add_argument("--model-url", default="http://127.0.0.1:8000/v1", help="OpenAI-style /v1")
    return cli.parse_args()


def model_client(base_url: str) -> openai.AsyncOpenAI:
    """The SDK's client as its README makes it (the lab's built-in model takes any key)."""
    return openai.AsyncOpenAI(base_url=base_url, api_key="sse-lab")


async def new_answer(request: web.Request) -> web.Response:
    """`POST /new` of the two aiohttp peers: keep the prompt, return its id."""
    answer_id = keep((await request.json()).get("prompt"))
    if answer_id is None:
        return web.json_response({"error": 'send {"prompt": "..."}'}, status=400)
    return web.json_response({"id": answer_id, "stream_url": f"/sse/{answer_id}"}, status=201)


def serve_aiohttp(
    stream: Callable[[web.Request], Awaitable[web.StreamResponse]], description: str | None
) -> None:
    """Run an aiohttp peer: `POST /new`, and its `stream` handler as `GET /sse/{id}`."""
    args = options(description)
    app = web.Application()
    app[CLIENT] = model_client(args.model_url)
    app.router.add_post("/new", new_answer)
    app.router.add_get("/sse/{id}", stream)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)

"""Generation: reading the model's stream; an answer ends with an error when the model fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from openai.types.chat import ChatCompletionChunk

from conftest import read_events, serving_app
from sse_lab.answers import chunk_texts
from sse_lab.config import FAILING_MODEL, Upstream
from sse_lab.lab.launch import start_server
from sse_lab.model import answer_tokens
from sse_lab.stores.base import Usage


@asynccontextmanager
async def model_sending(*writes: bytes) -> AsyncIterator[str]:
    """A model whose `/v1/chat/completions` answers with these writes, 50 ms apart, so
    that each comes in a read of its own; yields its base URL."""

    async def completions(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for n, data in enumerate(writes):
            if n:
                await asyncio.sleep(0.05)
            await response.write(data)
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    async with serving_app(app) as url:
        yield f"{url}/v1"


def chunk(content: str | None = None, finish_reason: str | None = None) -> bytes:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish_reason}
    body = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n".encode()


# OpenAI's last chunk when asked with stream_options={"include_usage": True}.
COUNTS = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
DETAILS = {"prompt_tokens_details": {"cached_tokens": 0}}
USAGE = f'data: {{"id": "c", "choices": [], "usage": {json.dumps(COUNTS | DETAILS)}}}\n\n'.encode()
OVERLOADED = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'


async def stream_from(base_url: str) -> openai.AsyncStream[ChatCompletionChunk]:
    """The stream that `chat.completions.create(stream=True)` returns, as the lab asks it."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="anything", max_retries=0)
    return await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )


async def test_chunk_texts_gives_the_texts_of_each_read_the_finish_reason_and_the_usage() -> None:
    first = chunk("Hel") + chunk("lo")
    last = chunk(" there") + chunk(finish_reason="length") + USAGE + b"data: [DONE]\n\n"
    async with (
        model_sending(first, last + chunk("after the end")) as base_url,
        await stream_from(base_url) as stream,
    ):
        reads = [read async for read in chunk_texts(stream)]
    assert reads == [(["Hel", "lo"], None, None), ([" there"], "length", Usage(2, 3, 5))]


async def test_an_error_object_in_the_stream_raises_the_sdks_api_error_after_the_texts() -> None:
    reads = []
    async with (
        model_sending(chunk("Hi"), chunk(" there") + OVERLOADED) as base_url,
        await stream_from(base_url) as stream,
    ):
        with pytest.raises(openai.APIError, match="overloaded") as raised:
            async for read in chunk_texts(stream):
                reads.append(read)
    assert reads == [(["Hi"], None, None), ([" there"], None, None)]  # the error's own read too
    assert raised.value.body == {"message": "overloaded", "type": "server_error"}


async def events_of_an_answer(base_url: str, tmp_path: Path) -> list[Any]:
    """The events of one answer of a lab server whose model is at `base_url`."""
    upstream = Upstream(base_url=base_url)
    with start_server(upstream=upstream, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession(headers=lab.auth_header()) as http:
            async with http.post(f"{lab.url}/new", json={"prompt": "hi"}) as response:
                answer_id = (await response.json())["id"]
            async with http.get(f"{lab.url}/sse/{answer_id}") as response:
                return await read_events(response)


async def test_an_unreachable_model_ends_the_answer_with_an_error_event(tmp_path: Path) -> None:
    # The discard port: nothing listens.
    (end,) = await events_of_an_answer("http://127.0.0.1:9/v1", tmp_path)
    assert end.event == "error"
    message = json.loads(end.data)["message"]
    assert message.startswith("the model failed: ")
    assert "Cannot connect to host 127.0.0.1:9" in message


async def test_the_done_event_carries_the_usage_the_model_reported_or_null(
    tmp_path: Path,
) -> None:
    ending = chunk(finish_reason="stop") + USAGE + b"data: [DONE]\n\n"
    async with model_sending(chunk("Hi"), ending) as base_url:
        _, counted = await events_of_an_answer(base_url, tmp_path)
    # A model that sends no usage chunk (one that ignores stream_options).
    async with model_sending(
        chunk("Hi"), chunk(finish_reason="stop") + b"data: [DONE]\n\n"
    ) as base_url:
        _, uncounted = await events_of_an_answer(base_url, tmp_path)
    assert json.loads(counted.data) == {"finish_reason": "stop", "usage": COUNTS}
    assert json.loads(uncounted.data) == {"finish_reason": "stop", "usage": None}


async def test_an_error_in_the_models_stream_ends_the_answer_after_its_deltas(
    tmp_path: Path,
) -> None:
    async with model_sending(chunk("Hi"), OVERLOADED) as base_url:
        delta, end = await events_of_an_answer(base_url, tmp_path)
    assert json.loads(delta.data) == {"delta": "Hi"}
    assert end.event == "error"
    assert json.loads(end.data)["message"] == "the model failed: overloaded"


async def test_with_the_failing_built_in_model_an_answer_ends_with_an_error_after_its_deltas(
    tmp_path: Path,
) -> None:
    # As a notebook shows it: the lab server's own model, under its failing name.
    db = str(tmp_path / "lab.db")
    with start_server(token_delay=0, upstream=Upstream(model=FAILING_MODEL), db_path=db) as lab:
        async with aiohttp.ClientSession(headers=lab.auth_header()) as http:
            async with http.post(f"{lab.url}/new", json={"prompt": "What is SSE?"}) as response:
                answer_id = (await response.json())["id"]
            async with http.get(f"{lab.url}/sse/{answer_id}") as response:
                assert response.status == 200
                *deltas, end = await read_events(response)
    tokens = answer_tokens("What is SSE?")
    assert [json.loads(e.data)["delta"] for e in deltas] == tokens[: len(tokens) // 2]
    assert end.event == "error"
    assert json.loads(end.data)["message"] == (
        f"the model failed: {FAILING_MODEL} fails halfway through every answer, on purpose"
    )

"""The built-in model's OpenAI-compatible API, driven by the real `openai` SDK over a socket."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from conftest import serving_app
from sse_lab.config import FAILING_MODEL, Settings, Upstream
from sse_lab.model import answer_tokens
from sse_lab.server.openai_api import routes
from sse_lab.server.state import MODEL_STREAMS, SETTINGS
from sse_lab.sse import EventStreamParser

MODEL = "sse-lab-tiny"
PROMPT = "How does reconnection with Last-Event-ID work?"
ANSWER = "".join(answer_tokens(PROMPT))


@dataclass(frozen=True)
class Server:
    url: str
    app: web.Application

    def client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key="anything", max_retries=0)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Server]:
    app = web.Application()
    app[SETTINGS] = settings
    app[MODEL_STREAMS] = set()
    app.add_routes(routes)
    async with serving_app(app) as url:
        yield Server(url, app)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with serving(Settings(token_delay=0)) as running:
        yield running


def user(text: Any) -> list[Any]:
    return [{"role": "user", "content": text}]


async def until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll `condition` until it holds or `seconds` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_streamed_and_whole_answers_are_the_models_answer(server: Server) -> None:
    client = server.client()
    whole = await client.chat.completions.create(model=MODEL, messages=user(PROMPT))
    stream = await client.chat.completions.create(model=MODEL, messages=user(PROMPT), stream=True)
    chunks = [chunk async for chunk in stream]

    assert whole.choices[0].message.content == ANSWER
    assert whole.choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == ANSWER
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]
    assert {c.id for c in chunks} == {chunks[0].id}
    assert chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].object == "chat.completion.chunk"


async def test_the_stream_is_plain_sse_ending_with_done(server: Server) -> None:
    body = {"model": MODEL, "messages": user(PROMPT), "stream": True}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/v1/chat/completions", json=body) as response,
    ):
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        events = EventStreamParser().feed(await response.read())
    assert events[-1].data == "[DONE]"
    assert len(events) == len(answer_tokens(PROMPT)) + 3  # role, pieces, finish, [DONE]


@pytest.mark.parametrize(
    "prompt", ["What is the wire format?", "Why the POST design instead of the query string?"]
)
async def test_every_token_chunk_is_the_first_chunk_with_its_text(
    server: Server, prompt: str
) -> None:
    """Also for tokens that JSON escapes: quotes in the first answer, line breaks in the second."""
    body = {"model": MODEL, "messages": user(prompt), "stream": True}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/v1/chat/completions", json=body) as response,
    ):
        *chunks, done = EventStreamParser().feed(await response.read())
    assert done.data == "[DONE]"
    role, *pieces, finish = [json.loads(event.data) for event in chunks]
    tokens = answer_tokens(prompt)
    assert any('"' in token or "\n" in token for token in tokens)
    for piece, token in zip(pieces, tokens, strict=True):
        choice = {"index": 0, "delta": {"content": token}, "logprobs": None, "finish_reason": None}
        assert piece == {**role, "choices": [choice]}
    assert finish["choices"][0]["finish_reason"] == "stop"


async def test_the_model_list_names_the_configured_model(server: Server) -> None:
    models = await server.client().models.list()
    assert [m.id for m in models.data] == [MODEL]


async def test_the_model_name_comes_from_the_settings() -> None:
    settings = Settings(token_delay=0, upstream=Upstream(model="tiny-2"))
    async with serving(settings) as running:
        client = running.client()
        models = await client.models.list()
        reply = await client.chat.completions.create(model="tiny-2", messages=user(PROMPT))
    assert [m.id for m in models.data] == ["tiny-2"]
    assert reply.model == "tiny-2"


async def test_the_failing_model_streams_half_its_answer_then_an_error_object() -> None:
    async with serving(Settings(token_delay=0, upstream=Upstream(model=FAILING_MODEL))) as failing:
        stream = await failing.client().chat.completions.create(
            model=FAILING_MODEL, messages=user(PROMPT), stream=True
        )
        pieces = []
        with pytest.raises(openai.APIError, match="fails halfway") as raised:
            async for chunk in stream:  # the SDK raises for the `error` object
                pieces.append(chunk.choices[0].delta.content or "")
        with pytest.raises(openai.InternalServerError, match="fails halfway"):
            await failing.client().chat.completions.create(
                model=FAILING_MODEL, messages=user(PROMPT)
            )
    tokens = answer_tokens(PROMPT)
    assert "".join(pieces) == "".join(tokens[: len(tokens) // 2])
    assert raised.value.body == {
        "message": f"{FAILING_MODEL} fails halfway through every answer, on purpose",
        "type": "server_error",
        "param": None,
        "code": None,
    }


async def test_the_failing_models_stream_ends_after_its_error_without_done() -> None:
    body = {"model": FAILING_MODEL, "messages": user(PROMPT), "stream": True}
    async with (
        serving(Settings(token_delay=0, upstream=Upstream(model=FAILING_MODEL))) as failing,
        aiohttp.ClientSession() as http,
        http.post(f"{failing.url}/v1/chat/completions", json=body) as response,
    ):
        assert response.status == 200  # the failure comes after the status, in the body
        *chunks, last = EventStreamParser().feed(await response.read())
    assert "error" in json.loads(last.data)
    assert all("choices" in json.loads(chunk.data) for chunk in chunks)
    assert len(chunks) == 1 + len(answer_tokens(PROMPT)) // 2  # role, then half the pieces


@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_cuts_the_answer_with_finish_reason_length(
    server: Server, stream: bool
) -> None:
    client = server.client()
    if stream:
        chunks = [
            chunk
            async for chunk in await client.chat.completions.create(
                model=MODEL, messages=user(PROMPT), max_tokens=5, stream=True
            )
        ]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        reason = chunks[-1].choices[0].finish_reason
    else:
        whole = await client.chat.completions.create(
            model=MODEL, messages=user(PROMPT), max_completion_tokens=5
        )
        text, reason = whole.choices[0].message.content or "", whole.choices[0].finish_reason
    assert text == "".join(answer_tokens(PROMPT)[:5])
    assert reason == "length"


async def test_include_usage_adds_a_last_chunk_with_the_counts(server: Server) -> None:
    stream = await server.client().chat.completions.create(
        model=MODEL,
        messages=user(PROMPT),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    *answer, last = chunks
    assert all(c.usage is None for c in answer)
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == len(answer_tokens(PROMPT))
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


async def test_text_parts_and_history_answer_the_last_user_message(server: Server) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You teach SSE."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
    ]
    reply = await server.client().chat.completions.create(model=MODEL, messages=messages)
    assert reply.choices[0].message.content == ANSWER


async def test_the_sync_client_works_too(server: Server) -> None:
    def ask_synchronously() -> tuple[str, str]:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as client:
            whole = client.chat.completions.create(model=MODEL, messages=user(PROMPT))
            stream = client.chat.completions.create(model=MODEL, messages=user(PROMPT), stream=True)
            pieces = "".join(c.choices[0].delta.content or "" for c in stream)
        return whole.choices[0].message.content or "", pieces

    assert await asyncio.to_thread(ask_synchronously) == (ANSWER, ANSWER)


@pytest.mark.parametrize(
    ("request_args", "error", "message"),
    [
        ({"model": MODEL, "messages": []}, openai.BadRequestError, "non-empty"),
        ({"model": MODEL, "messages": [{"content": "hi"}]}, openai.BadRequestError, "role"),
        (
            {"model": MODEL, "messages": [{"role": "system", "content": "hi"}]},
            openai.BadRequestError,
            "role 'user'",
        ),
        (
            {"model": MODEL, "messages": user([{"type": "image_url", "image_url": {}}])},
            openai.BadRequestError,
            "text parts",
        ),
        (
            {"model": MODEL, "messages": user("hi"), "max_tokens": 0},
            openai.BadRequestError,
            "at least 1",
        ),
        (
            {"model": MODEL, "messages": user("hi"), "extra_body": {"stream": "yes"}},
            openai.BadRequestError,
            "'stream' must be of type bool",
        ),
        ({"model": "gpt-9", "messages": user("hi")}, openai.NotFoundError, "'gpt-9' does not"),
    ],
)
async def test_bad_requests_raise_the_sdks_exceptions_with_our_message(
    server: Server, request_args: dict[str, Any], error: type[openai.APIStatusError], message: str
) -> None:
    with pytest.raises(error) as raised:
        await server.client().chat.completions.create(**request_args)
    assert raised.value.type == "invalid_request_error"
    assert isinstance(raised.value.body, dict)
    assert message in raised.value.body["message"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b'{"model": "sse-lab-tiny"}', "application/json", 400, "invalid_messages"),
        (b'{"messages": []}', "application/json", 400, "missing"),
        (b"prompt=hi", "application/x-www-form-urlencoded", 415, "unsupported_media"),
    ],
)
async def test_malformed_bodies_get_openai_style_errors(
    server: Server, data: bytes, content_type: str, status: int, code: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/v1/chat/completions",
            data=data,
            headers={"Content-Type": content_type},
        ) as response,
    ):
        body = await response.json()
    assert response.status == status
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_closing_a_stream_early_stops_generation() -> None:
    # At 0.05 s a token the whole answer takes over 4 s: the stream must end well before.
    async with serving(Settings(token_delay=0.05)) as running:
        streams = running.app[MODEL_STREAMS]
        stream = await running.client().chat.completions.create(
            model=MODEL, messages=user(PROMPT), stream=True
        )
        async for chunk in stream:
            if chunk.choices[0].delta.content:
                break
        assert len(streams) == 1
        await stream.close()
        assert await until(lambda: not streams, seconds=2.0)


async def test_a_finished_stream_leaves_no_trace(server: Server) -> None:
    stream = await server.client().chat.completions.create(
        model=MODEL, messages=user(PROMPT), stream=True
    )
    assert [c async for c in stream]
    assert await until(lambda: not server.app[MODEL_STREAMS], seconds=2.0)


async def test_an_unknown_question_is_answered_with_its_own_words(server: Server) -> None:
    prompt = "Which bread rises best?"
    reply = await server.client().chat.completions.create(model=MODEL, messages=user(prompt))
    assert prompt in (reply.choices[0].message.content or "")

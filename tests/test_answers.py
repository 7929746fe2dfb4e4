"""Generation: reading the model's stream; an answer ends with an error when the model fails."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from conftest import read_events
from sse_lab.answers import UpstreamError, chat_chunks
from sse_lab.config import Upstream
from sse_lab.launch import start_server


async def body(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def test_chat_chunks_yields_json_chunks_until_done_however_the_body_is_cut() -> None:
    stream = b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\ndata: [DONE]\n\ndata: {}\n\n'
    pieces = [stream[i : i + 3] for i in range(0, len(stream), 3)]
    chunks = [chunk async for chunks in chat_chunks(body(*pieces)) for chunk in chunks]
    assert chunks == [{"choices": [{"delta": {"content": "Hi"}}]}]


async def test_chat_chunks_come_in_lists_of_what_each_read_completed() -> None:
    one, two = (f'data: {{"n": {n}}}\n\n'.encode() for n in (1, 2))
    lists = [chunks async for chunks in chat_chunks(body(one + two[:5], two[5:]))]
    assert lists == [[{"n": 1}], [{"n": 2}]]


async def test_an_error_object_in_the_stream_raises() -> None:
    stream = b'data: {"error": {"message": "overloaded"}}\n\n'
    with pytest.raises(UpstreamError, match="overloaded"):
        _ = [chunk async for chunk in chat_chunks(body(stream))]


async def test_an_unreachable_model_ends_the_answer_with_an_error_event(tmp_path: Path) -> None:
    nowhere = Upstream(base_url="http://127.0.0.1:9/v1")  # the discard port: nothing listens
    with start_server(upstream=nowhere, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession(headers=lab.auth_header()) as http:
            async with http.post(f"{lab.url}/new", json={"prompt": "hi"}) as response:
                answer_id = (await response.json())["id"]
            async with http.get(f"{lab.url}/sse/{answer_id}") as response:
                events = await read_events(response)
    (end,) = events
    assert end.event == "error"
    message = json.loads(end.data)["message"]
    assert message.startswith("the model failed: ")
    assert "Cannot connect to host 127.0.0.1:9" in message

"""Chinese and emoji travel as themselves on every route: UTF-8 bytes, never `\\u` escapes.

The built-in model answers a Chinese prompt in Chinese, and quotes one it knows nothing
about ("你问的是：..."), emoji and all, so this prompt puts Chinese through each stream.
Each SSE body is read one byte at a time, so every character of three or four bytes
arrives cut across reads, and the parser's incremental decoding has to put it back
together.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import aiohttp

from sse_lab.lab.launch import LabServer
from sse_lab.model import answer_tokens
from sse_lab.sse import EventStreamParser, ServerSentEvent

PROMPT = "什么是流式传输？🚀"
ANSWER = "".join(answer_tokens(PROMPT))


async def read_bytewise(response: aiohttp.ClientResponse) -> tuple[bytes, list[ServerSentEvent]]:
    """The whole body and its events, the parser fed one byte per read."""
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    parser = EventStreamParser()
    body = bytearray()
    events: list[ServerSentEvent] = []
    async for byte in response.content.iter_chunked(1):
        body += byte
        events += parser.feed(byte)
    return bytes(body), events


def assert_plain_utf8(body: bytes) -> None:
    """The prompt's characters are in the body as their UTF-8 bytes (a token each in a
    stream), none as an escape."""
    assert all(character.encode() in body for character in PROMPT)
    assert b"\\u" not in body


def deltas(events: list[ServerSentEvent]) -> str:
    return "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")


def test_the_model_quotes_the_prompt_so_chinese_goes_through_the_streams() -> None:
    assert PROMPT in ANSWER
    assert "🚀" in answer_tokens(PROMPT)  # one token: four bytes, cut by a bytewise reader


async def test_ask_streams_chinese_as_utf8(lab: LabServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{lab.url}/ask?prompt={quote(PROMPT)}") as response:
        body, events = await read_bytewise(response)
    assert_plain_utf8(body)
    assert deltas(events) == ANSWER


async def test_sse_id_streams_chinese_as_utf8(lab: LabServer, http: aiohttp.ClientSession) -> None:
    async with http.post(
        f"{lab.url}/new", json={"prompt": PROMPT}, headers=lab.auth_header()
    ) as response:
        stream_url = (await response.json())["stream_url"]
    async with http.get(f"{lab.url}{stream_url}", headers=lab.auth_header()) as response:
        body, events = await read_bytewise(response)
    assert_plain_utf8(body)
    assert deltas(events) == ANSWER
    assert events[-1].event == "done"


async def test_v1_streams_chinese_as_utf8(lab: LabServer, http: aiohttp.ClientSession) -> None:
    request = {
        "model": "sse-lab-tiny",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
    }
    async with http.post(f"{lab.url}/v1/chat/completions", json=request) as response:
        body, events = await read_bytewise(response)
    assert_plain_utf8(body)
    chunks = [json.loads(e.data) for e in events if e.data != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == ANSWER


async def test_v1_answers_whole_in_utf8(lab: LabServer, http: aiohttp.ClientSession) -> None:
    request = {"model": "sse-lab-tiny", "messages": [{"role": "user", "content": PROMPT}]}
    async with http.post(f"{lab.url}/v1/chat/completions", json=request) as response:
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        body = await response.read()
    assert PROMPT.encode() in body
    assert b"\\u" not in body
    assert json.loads(body)["choices"][0]["message"]["content"] == ANSWER


async def test_ws_sends_chinese_as_itself(lab: LabServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(f"{lab.url}/ws", headers=lab.auth_header()) as ws:
        await ws.send_json({"type": "ask", "prompt": PROMPT})
        # `answer`, a `delta` per token, `done`
        frames = [await ws.receive_str(timeout=10) for _ in range(len(answer_tokens(PROMPT)) + 2)]
    assert_plain_utf8("".join(frames).encode())
    messages = [json.loads(frame) for frame in frames]
    assert "".join(m["text"] for m in messages if m["type"] == "delta") == ANSWER
    assert messages[-1]["type"] == "done"


async def test_a_json_error_quotes_chinese_as_utf8(
    lab: LabServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{lab.url}/sse/{quote(PROMPT)}", headers=lab.auth_header()) as response:
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        body = await response.read()
    assert_plain_utf8(body)
    assert PROMPT in json.loads(body)["error"]

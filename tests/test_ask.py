"""`GET /ask?prompt=`: the query-string design, its URL limit, work that ends with the client."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import aiohttp

from conftest import read_events, until
from sse_lab.lab.launch import start_server
from sse_lab.model import answer_tokens


async def test_ask_streams_the_answer_to_the_prompt_in_the_url(lab, http) -> None:
    prompt = "What is the retry field?"
    async with http.get(f"{lab.url}/ask?prompt={quote(prompt)}") as response:
        events = await read_events(response)
    text = "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")
    assert text == "".join(answer_tokens(prompt))
    assert events[-1].event == "done"
    usage = json.loads(events[-1].data)["usage"]
    assert usage["completion_tokens"] == len(events) - 1 == len(answer_tokens(prompt))
    assert usage["total_tokens"] == usage["prompt_tokens"] + len(events) - 1


async def test_a_url_past_the_limit_gets_414_and_the_server_keeps_serving(lab, http) -> None:
    prompt = "x" * lab.settings.max_url_bytes
    async with http.get(f"{lab.url}/ask?prompt={prompt}") as response:
        assert response.status == 414
        assert "at most 8190" in (await response.json())["error"]
    async with http.get(f"{lab.url}/ask?prompt=still+there%3F") as response:
        assert response.status == 200
        assert (await read_events(response))[-1].event == "done"


async def test_an_event_source_reconnecting_to_ask_gets_204(lab, http) -> None:
    headers = {"Last-Event-ID": "12"}
    async with http.get(f"{lab.url}/ask?prompt=hi", headers=headers) as response:
        assert response.status == 204


async def test_a_client_that_leaves_stops_the_answer_it_started(tmp_path: Path) -> None:
    with start_server(token_delay=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        url = f"{lab.url}/ask?prompt=Tell+me+about+WebSockets"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            await response.content.readuntil(b"id: 2\n")
            assert lab.running_answers() == 1
        assert await until(lambda: lab.running_answers() == 0)
        assert await until(lambda: lab.open_model_streams() == 0)


async def test_a_reader_that_leaves_leaves_no_connection_behind(tmp_path: Path) -> None:
    with start_server(token_delay=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{lab.url}/new", json={"prompt": "hello"}, headers=lab.auth_header()
            ) as response:
                answer_id = (await response.json())["id"]
            async with http.get(f"{lab.url}/sse/{answer_id}", headers=lab.auth_header()) as r:
                await r.content.readuntil(b"id: 1\n")
            assert lab.open_streams() == 1
        assert await until(lambda: lab.open_streams() == 0)
        assert lab.running_answers() == 1  # the answer goes on for whoever reads it next


async def test_streams_send_a_heartbeat_comment_when_idle(tmp_path: Path) -> None:
    with start_server(token_delay=0.3, heartbeat=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http, http.get(f"{lab.url}/ask?prompt=hi") as r:
            head = await r.content.readuntil(b"id: 1\n")
    assert b": heartbeat\n" in head

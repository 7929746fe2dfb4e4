"""The POST-id-then-SSE design over a real socket: POST /new, GET /sse/{id}, DELETE /sse/{id}."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import aiohttp
import pytest

from conftest import read_events, until
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.sse import EventStreamParser
from sse_lab.stores.sqlite import RESTART_ERROR

PROMPT = "How does an EventSource reconnect?"


async def ask(
    lab: LabServer, http: aiohttp.ClientSession, prompt: str = PROMPT, user: str = "alice"
) -> str:
    async with http.post(
        f"{lab.url}/new", json={"prompt": prompt}, headers=lab.auth_header(user)
    ) as response:
        assert response.status == 201
        body = await response.json()
    assert body["stream_url"] == f"/sse/{body['id']}"
    return str(body["id"])


async def stream(
    lab: LabServer,
    http: aiohttp.ClientSession,
    answer_id: str,
    last_event_id: int | None = None,
    user: str = "alice",
) -> list:
    headers = lab.auth_header(user)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    async with http.get(f"{lab.url}/sse/{answer_id}", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        return await read_events(response)


def fields(events: list) -> list[tuple[str, str, str]]:
    """What a reader acts on (the `retry` hint rides on whichever event comes first)."""
    return [(e.event, e.id, e.data) for e in events]


def text_of(events: list) -> str:
    return "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")


def assert_usage(done_data: dict, deltas: int) -> None:
    """A `done` event's usage as the built-in model counts it: one token a delta."""
    usage = done_data["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] == deltas
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_the_streamed_answer_is_the_models_answer_numbered_from_one(lab, http) -> None:
    events = await stream(lab, http, await ask(lab, http))

    *deltas, done = events
    assert [e.id for e in deltas] == [str(n) for n in range(1, len(deltas) + 1)]
    assert text_of(deltas) == "".join(answer_tokens(PROMPT))
    assert (done.event, json.loads(done.data)["finish_reason"]) == ("done", "stop")
    assert_usage(json.loads(done.data), len(deltas))


async def test_a_reader_resuming_from_any_event_gets_exactly_the_rest(lab, http) -> None:
    answer_id = await ask(lab, http)
    whole = await stream(lab, http, answer_id)
    for seen in range(len(whole)):
        rest = await stream(lab, http, answer_id, last_event_id=seen)
        assert fields(rest) == fields(whole[seen:]), f"resuming after event {seen}"


async def test_readers_joining_a_running_answer_after_any_event_get_exactly_the_rest(
    tmp_path: Path,
) -> None:
    # While the answer is written, a reader resumes right after each event the first saw.
    with start_server(token_delay=0.01, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            answer_id = await ask(lab, http)
            whole, resumed, parser = [], {}, EventStreamParser()
            url, headers = f"{lab.url}/sse/{answer_id}", lab.auth_header()
            async with http.get(url, headers=headers) as response:
                async for chunk in response.content.iter_any():
                    for event in parser.feed(chunk):
                        whole.append(event)
                        seen = int(event.id)
                        if event.event == "message":
                            resumed[seen] = asyncio.create_task(stream(lab, http, answer_id, seen))
            rests = {seen: await task for seen, task in resumed.items()}
    assert len(rests) > 50
    for seen, rest in rests.items():
        assert fields(rest) == fields(whole[seen:]), f"resuming after event {seen}"


async def test_an_http_1_0_client_gets_the_stream_unchunked_until_the_socket_closes(
    lab, http
) -> None:
    answer_id = await ask(lab, http)
    whole = await stream(lab, http, answer_id)
    reader, writer = await asyncio.open_connection(*lab.url.removeprefix("http://").split(":"))
    token = lab.auth_header()["Authorization"]
    writer.write(f"GET /sse/{answer_id} HTTP/1.0\r\nAuthorization: {token}\r\n\r\n".encode())
    head, _, body = (await asyncio.wait_for(reader.read(), 10)).partition(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.0 200") and b"chunked" not in head.lower()
    assert fields(EventStreamParser().feed(body)) == fields(whole)


async def test_a_reconnect_after_done_gets_204(lab, http) -> None:
    answer_id = await ask(lab, http)
    done = (await stream(lab, http, answer_id))[-1]
    headers = {**lab.auth_header(), "Last-Event-ID": done.id}
    async with http.get(f"{lab.url}/sse/{answer_id}", headers=headers) as response:
        assert response.status == 204


async def test_two_readers_of_one_answer_see_the_same_events(tmp_path: Path) -> None:
    with start_server(token_delay=0.005, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            answer_id = await ask(lab, http)
            first, second = await asyncio.gather(
                stream(lab, http, answer_id), stream(lab, http, answer_id)
            )
    assert first == second
    assert first[-1].event == "done"


async def test_stop_generating_ends_readers_with_stopped_and_closes_upstream(
    tmp_path: Path,
) -> None:
    with start_server(token_delay=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            answer_id = await ask(lab, http, "Tell me everything about SSE and WebSockets")
            reader = asyncio.create_task(stream(lab, http, answer_id))
            assert await stream_prefix(lab, http, answer_id) == 1  # the answer has begun
            async with http.delete(f"{lab.url}/sse/{answer_id}", headers=lab.auth_header()) as r:
                assert r.status == 200
                assert await r.json() == {"id": answer_id, "finish_reason": "stopped"}
            events = await asyncio.wait_for(reader, 10)
            async with http.delete(f"{lab.url}/sse/{answer_id}", headers=lab.auth_header()) as r:
                assert r.status == 409
        assert events[-1].event == "done"
        assert json.loads(events[-1].data) == {"finish_reason": "stopped", "usage": None}
        assert (
            0 < len(events) - 1 < len(answer_tokens("Tell me everything about SSE and WebSockets"))
        )
        assert await until(lambda: lab.open_model_streams() == 0)


async def test_answers_survive_a_restart_and_a_cut_answer_ends_with_an_error(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "lab.db")
    with start_server(token_delay=0, db_path=db) as lab:
        async with aiohttp.ClientSession() as http:
            answer_id = await ask(lab, http)
            before = await stream(lab, http, answer_id)
        tokens = lab.tokens
    with start_server(token_delay=0, db_path=db, users=tokens) as lab:
        async with aiohttp.ClientSession() as http:
            assert await stream(lab, http, answer_id) == before

    with start_server(token_delay=0.5, db_path=db, users=tokens) as lab:
        async with aiohttp.ClientSession() as http:
            cut_id = await ask(lab, http)
            deadline = time.monotonic() + 10
            while not (await stream_prefix(lab, http, cut_id)) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    with start_server(token_delay=0, db_path=db, users=tokens) as lab:
        async with aiohttp.ClientSession() as http:
            events = await stream(lab, http, cut_id)
    assert events[-1].event == "error"
    assert json.loads(events[-1].data)["message"] in (RESTART_ERROR, "the server stopped")
    assert text_of(events) == "".join(answer_tokens(PROMPT))[: len(text_of(events))]
    assert text_of(events)


async def stream_prefix(lab: LabServer, http: aiohttp.ClientSession, answer_id: str) -> int:
    """How many deltas the answer has so far (reads one event, then leaves)."""
    async with http.get(f"{lab.url}/sse/{answer_id}", headers=lab.auth_header()) as response:
        async for line in response.content:
            if line.startswith(b"id:"):
                return 1
    return 0


async def test_another_users_answer_is_not_found(lab, http) -> None:
    answer_id = await ask(lab, http, user="alice")
    for method, path in (("GET", "sse"), ("DELETE", "sse"), ("GET", "answers")):
        async with http.request(
            method, f"{lab.url}/{path}/{answer_id}", headers=lab.auth_header("bob")
        ) as r:
            assert r.status == 404
            assert "error" in await r.json()


async def test_get_answers_id_tells_its_owner_where_to_stream_it_again(lab, http) -> None:
    # What a page needs after a reload: the answer's status, and a fresh stream token for
    # its EventSource, since the one POST /new gave lasts minutes.
    answer_id = await ask(lab, http)
    whole = await stream(lab, http, answer_id)
    async with http.get(f"{lab.url}/answers/{answer_id}", headers=lab.auth_header()) as r:
        assert r.status == 200
        found = await r.json()
    assert found.keys() == {"id", "status", "stream_url", "eventsource_url"}
    assert (found["id"], found["status"]) == (answer_id, "done")
    assert found["stream_url"] == f"/sse/{answer_id}"

    async with http.get(lab.url + found["eventsource_url"]) as response:  # no header
        assert fields(await read_events(response)) == fields(whole)
    # The stream token reads the stream, and only that.
    token = found["eventsource_url"].partition("?")[2]
    async with http.get(f"{lab.url}/answers/{answer_id}?{token}") as r:
        assert r.status == 401


async def test_the_token_may_ride_in_the_query_and_is_never_logged(lab, http, caplog) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    answer_id = await ask(lab, http)
    token = lab.tokens["alice"]
    async with http.get(f"{lab.url}/sse/{answer_id}?token={token}") as response:
        events = await read_events(response)
    assert events[-1].event == "done"

    logged = f'"GET /sse/{answer_id}?token=***" 200'
    assert await until(lambda: logged in caplog.text)  # written once the response ends
    assert token not in caplog.text
    seen = lab.seen_requests()
    assert f"/sse/{answer_id}?token=***" in [r["url"] for r in seen]
    assert token not in json.dumps(seen)
    assert "Bearer ***" in [r["headers"].get("Authorization") for r in seen]


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "token", "body", "status"),
    [
        ("POST", "/new", None, {"json": {"prompt": "hi"}}, 401),
        ("POST", "/new", "wrong", {"json": {"prompt": "hi"}}, 401),
        ("POST", "/new", "alice", {"data": "prompt=hi"}, 415),
        ("POST", "/new", "alice", {"data": "{not json", "headers": JSON}, 400),
        ("POST", "/new", "alice", {"json": ["prompt"]}, 400),
        ("POST", "/new", "alice", {"json": {"prompt": ""}}, 400),
        ("POST", "/new", "alice", {"json": {"prompt": 42}}, 400),
        ("POST", "/new", "alice", {"json": {"prompt": "x" * 20_000}}, 413),
        ("POST", "/new", "alice", {"data": "x" * (2 << 20), "headers": JSON}, 413),
        ("PUT", "/new", "alice", {"json": {"prompt": "hi"}}, 405),
        ("GET", "/sse/ans_unknown", "alice", {}, 404),
        ("GET", "/sse/ans_unknown", None, {}, 401),
        ("GET", "/answers/ans_unknown", "alice", {}, 404),
        ("GET", "/answers/ans_unknown", None, {}, 401),
        ("GET", "/answers/ans_unknown", "wrong", {}, 401),
        ("GET", "/sse?count=0", None, {}, 400),
        ("GET", "/sse?interval_ms=abc", None, {}, 400),
        ("GET", "/ask", None, {}, 400),
        ("GET", "/nowhere", None, {}, 404),
    ],
)
async def test_bad_input_gets_a_clear_json_error(lab, http, method, path, token, body, status):
    headers = dict(body.get("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {lab.tokens.get(token, token)}"
    payload = {k: v for k, v in body.items() if k != "headers"}
    async with http.request(method, lab.url + path, headers=headers, **payload) as response:
        assert response.status == status
        assert response.content_type == "application/json"
        error = (await response.json())["error"]
    assert isinstance(error, str) and error
    assert "Traceback" not in error


async def test_a_bad_last_event_id_is_a_400(lab, http) -> None:
    answer_id = await ask(lab, http)
    headers = {**lab.auth_header(), "Last-Event-ID": "seven"}
    async with http.get(f"{lab.url}/sse/{answer_id}", headers=headers) as response:
        assert response.status == 400


async def test_a_last_event_id_ahead_of_a_running_answer_is_a_400(tmp_path: Path) -> None:
    with start_server(token_delay=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            answer_id = await ask(lab, http)
            headers = {**lab.auth_header(), "Last-Event-ID": "500"}
            async with http.get(f"{lab.url}/sse/{answer_id}", headers=headers) as response:
                assert response.status == 400
                assert "ahead" in (await response.json())["error"]


async def test_an_answer_is_cut_at_max_tokens(tmp_path: Path) -> None:
    with start_server(token_delay=0, max_tokens=5, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            events = await stream(lab, http, await ask(lab, http))
    assert len(events) == 6
    assert json.loads(events[-1].data)["finish_reason"] == "length"
    assert_usage(json.loads(events[-1].data), 5)


async def test_an_answer_is_cut_at_max_seconds(tmp_path: Path) -> None:
    slow = {"token_delay": 0.05, "max_seconds": 0.3, "db_path": str(tmp_path / "lab.db")}
    with start_server(**slow) as lab:
        async with aiohttp.ClientSession() as http:
            events = await stream(lab, http, await ask(lab, http))
        assert await until(lambda: lab.open_model_streams() == 0)
    # Cut before the model's last chunk, which carries the usage.
    assert json.loads(events[-1].data) == {"finish_reason": "time_limit", "usage": None}
    assert 1 < len(events) < len(answer_tokens(PROMPT))

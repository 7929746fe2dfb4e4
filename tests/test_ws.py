"""`GET /ws` over a real socket: the same answers as `/sse/{id}`, with the client talking back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from conftest import read_events
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens

PROMPT = "How does a WebSocket differ from an EventSource?"
LONG_PROMPT = "Tell me everything about SSE and WebSockets"


@asynccontextmanager
async def socket(
    lab: LabServer, http: aiohttp.ClientSession, user: str = "alice"
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with http.ws_connect(f"{lab.url}/ws", headers=lab.auth_header(user)) as ws:
        yield ws


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message: dict[str, Any] = await ws.receive_json(timeout=10)
    return message


async def until_end(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """The messages of one answer's stream, up to its `done` or `error`."""
    messages = [await receive(ws)]
    while messages[-1]["type"] not in ("done", "error"):
        messages.append(await receive(ws))
    return messages


def text_of(messages: list[dict[str, Any]]) -> str:
    return "".join(m["text"] for m in messages if m["type"] == "delta")


async def sse_answer(lab: LabServer, http: aiohttp.ClientSession, answer_id: str) -> list:
    async with http.get(f"{lab.url}/sse/{answer_id}", headers=lab.auth_header()) as response:
        return await read_events(response)


async def test_ws_streams_the_same_text_as_sse_numbered_from_one(lab, http) -> None:
    async with socket(lab, http) as ws:
        await ws.send_json({"type": "ask", "prompt": PROMPT})
        start, *deltas, done = await until_end(ws)
    async with http.post(f"{lab.url}/new", json={"prompt": PROMPT}, headers=lab.auth_header()) as r:
        over_sse = await sse_answer(lab, http, (await r.json())["id"])

    assert start["type"] == "answer" and start["id"].startswith("ans_")
    assert [m["seq"] for m in deltas] == list(range(1, len(deltas) + 1))
    assert text_of(deltas) == "".join(json.loads(e.data)["delta"] for e in over_sse[:-1])
    assert text_of(deltas) == "".join(answer_tokens(PROMPT))
    usage = done.pop("usage")
    assert done == {"type": "done", "id": start["id"], "finish_reason": "stop"}
    assert usage == json.loads(over_sse[-1].data)["usage"]  # the same prompt, the same counts
    assert usage["completion_tokens"] == len(deltas)
    assert usage["total_tokens"] == usage["prompt_tokens"] + len(deltas) > len(deltas)


async def test_an_answer_asked_over_ws_can_be_read_over_sse(lab, http) -> None:
    async with socket(lab, http) as ws:
        await ws.send_json({"type": "ask", "prompt": PROMPT})
        start, *rest = await until_end(ws)
    over_sse = await sse_answer(lab, http, start["id"])
    assert [json.loads(e.data)["delta"] for e in over_sse[:-1]] == [m["text"] for m in rest[:-1]]


async def test_follow_resumes_after_the_last_seq_seen(lab, http) -> None:
    async with socket(lab, http) as ws:
        await ws.send_json({"type": "ask", "prompt": PROMPT})
        start, *whole = await until_end(ws)
        await ws.send_json({"type": "follow", "id": start["id"], "after": 2})
        again, *rest = await until_end(ws)
    assert again == start
    assert rest == whole[2:]


async def test_stop_mid_stream_ends_with_stopped_on_the_same_socket(tmp_path: Path) -> None:
    with start_server(token_delay=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http, socket(lab, http) as ws:
            await ws.send_json({"type": "ask", "prompt": LONG_PROMPT})
            start, first = await receive(ws), await receive(ws)
            await ws.send_json({"type": "stop"})
            *deltas, done = [first, *await until_end(ws)]
            await ws.send_json({"type": "stop"})
            after_the_end = await receive(ws)
        assert first["type"] == "delta"
        assert done == {
            "type": "done",
            "id": start["id"],
            "finish_reason": "stopped",
            "usage": None,
        }
        assert len(deltas) < len(answer_tokens(LONG_PROMPT))
        assert after_the_end == {"type": "error", "message": "nothing is streaming"}
        assert lab.open_model_streams() == 0


async def test_bad_messages_get_an_error_and_the_socket_stays_open(lab, http) -> None:
    bad = [
        "{not json",
        json.dumps(["ask"]),
        json.dumps({"type": "shout"}),
        json.dumps({"type": "ask"}),
        json.dumps({"type": "ask", "prompt": "  "}),
        json.dumps({"type": "ask", "prompt": "x" * 20_000}),
        json.dumps({"type": "follow", "id": "ans_x", "after": -1}),
        json.dumps({"type": "follow", "id": 42}),
    ]
    async with socket(lab, http) as ws:
        for text in bad:
            await ws.send_str(text)
            reply = await receive(ws)
            assert reply.keys() == {"type", "message"}, text
            assert reply["type"] == "error" and reply["message"], text
        await ws.send_json({"type": "ask", "prompt": PROMPT})
        assert (await until_end(ws))[-1]["finish_reason"] == "stop"


async def test_asking_while_an_answer_streams_is_refused(tmp_path: Path) -> None:
    with start_server(token_delay=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http, socket(lab, http) as ws:
            await ws.send_json({"type": "ask", "prompt": LONG_PROMPT})
            start = await receive(ws)
            await ws.send_json({"type": "ask", "prompt": PROMPT})
            reply = await receive(ws)
            while reply["type"] == "delta":
                reply = await receive(ws)
            await ws.send_json({"type": "stop"})
            *_, done = await until_end(ws)
        assert reply["type"] == "error" and "id" not in reply
        assert "streaming" in reply["message"]
        assert done == {
            "type": "done",
            "id": start["id"],
            "finish_reason": "stopped",
            "usage": None,
        }


async def test_following_from_beyond_a_running_answer_is_refused(tmp_path: Path) -> None:
    with start_server(token_delay=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            answer = await (
                await http.post(
                    f"{lab.url}/new", json={"prompt": LONG_PROMPT}, headers=lab.auth_header()
                )
            ).json()
            async with socket(lab, http) as ws:
                await ws.send_json({"type": "follow", "id": answer["id"], "after": 10_000})
                reply = await receive(ws)
            events = await sse_answer(lab, http, answer["id"])  # others still read it whole
    assert reply["type"] == "error" and "ahead of this answer" in reply["message"]
    assert [e.event for e in events][-1] == "done"
    assert len(events) == len(answer_tokens(LONG_PROMPT)) + 1


async def test_following_another_users_answer_is_refused(lab, http) -> None:
    async with socket(lab, http, "alice") as ws:
        await ws.send_json({"type": "ask", "prompt": PROMPT})
        answer_id = (await until_end(ws))[0]["id"]
    async with socket(lab, http, "bob") as ws:
        for unknown in (answer_id, "ans_unknown"):
            await ws.send_json({"type": "follow", "id": unknown, "after": 0})
            assert await receive(ws) == {
                "type": "error",
                "message": f"no answer {unknown!r} for this user",
            }


async def test_no_token_or_a_wrong_one_is_a_401_before_the_upgrade(lab, http) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        async with http.get(f"{lab.url}/ws", headers=headers) as response:
            assert response.status == 401
            assert "error" in await response.json()


async def test_the_token_may_ride_in_the_query_as_a_browser_must_send_it(lab, http) -> None:
    async with http.ws_connect(f"{lab.url}/ws?token={lab.tokens['bob']}") as ws:
        await ws.send_json({"type": "ask", "prompt": PROMPT})
        assert (await until_end(ws))[-1]["finish_reason"] == "stop"


async def test_a_plain_get_without_upgrade_is_a_json_400(lab, http) -> None:
    async with http.get(f"{lab.url}/ws", headers=lab.auth_header()) as response:
        assert response.status == 400
        assert "WebSocket" in (await response.json())["error"]


async def test_closing_the_socket_mid_answer_stops_it_and_its_model_stream(
    tmp_path: Path,
) -> None:
    with start_server(token_delay=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            async with socket(lab, http) as ws:
                await ws.send_json({"type": "ask", "prompt": LONG_PROMPT})
                answer_id = (await receive(ws))["id"]
                assert (await receive(ws))["type"] == "delta"
            events = await asyncio.wait_for(sse_answer(lab, http, answer_id), 10)
        assert (events[-1].event, json.loads(events[-1].data)) == (
            "done",
            {"finish_reason": "stopped", "usage": None},
        )
        deadline = time.monotonic() + 10
        while lab.open_model_streams() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert lab.open_model_streams() == 0


async def test_the_server_keeps_an_idle_socket_alive_with_pings(tmp_path: Path) -> None:
    with start_server(heartbeat=0.05, db_path=str(tmp_path / "lab.db")) as lab:
        async with aiohttp.ClientSession() as http:
            url, headers = f"{lab.url}/ws", lab.auth_header()
            async with http.ws_connect(url, headers=headers, autoping=False) as ws:
                ping = await ws.receive(timeout=10)
                await ws.pong(ping.data)
    assert ping.type is aiohttp.WSMsgType.PING


async def test_stopping_the_server_closes_open_sockets_going_away(tmp_path) -> None:
    lab = start_server(token_delay=0, db_path=str(tmp_path / "lab.db"))
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{lab.url}/ws", headers=lab.auth_header())
        await asyncio.to_thread(lab.stop)
        message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert message.data == aiohttp.WSCloseCode.GOING_AWAY

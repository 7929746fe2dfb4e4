"""Stop, disconnect and resume, case by case, over a real lab server.

An answer of the chat design (`POST /new`, `GET /sse/{id}`) outlives its readers: only
`DELETE /sse/{id}` stops it. An answer of `GET /ask` lives as long as its one reader.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from conftest import read_events, until
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.sse import EventStreamParser, ServerSentEvent

PROMPT = "Tell me about WebSockets"
OTHER_PROMPT = "What is SSE?"


@pytest.fixture
def paced_lab(tmp_path: Path) -> Iterator[LabServer]:
    """The lab server with its model at 20 ms a token: an answer takes about 2 s, time
    enough to leave, stop or ask again in the middle of it."""
    with start_server(token_delay=0.02, db_path=str(tmp_path / "lab.db")) as server:
        yield server


async def post_prompt(lab: LabServer, http: aiohttp.ClientSession, prompt: str = PROMPT) -> str:
    """POST /new as alice; the new answer's id."""
    async with http.post(
        f"{lab.url}/new", json={"prompt": prompt}, headers=lab.auth_header()
    ) as response:
        assert response.status == 201
        return str((await response.json())["id"])


async def read_answer(
    lab: LabServer, http: aiohttp.ClientSession, answer_id: str, last_event_id: str = ""
) -> list[ServerSentEvent]:
    """Every event of GET /sse/{id} (after `last_event_id`), until the server ends it
    (within 10 s: an answer takes 2)."""
    headers = lab.auth_header()
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    async with (
        asyncio.timeout(10),
        http.get(f"{lab.url}/sse/{answer_id}", headers=headers) as response,
    ):
        assert response.status == 200
        return await read_events(response)


async def read_some(
    lab: LabServer, http: aiohttp.ClientSession, answer_id: str, deltas: int
) -> list[ServerSentEvent]:
    """The first `deltas` deltas of the answer; then this reader closes its connection."""
    parser, events = EventStreamParser(), []
    async with (
        asyncio.timeout(10),
        http.get(f"{lab.url}/sse/{answer_id}", headers=lab.auth_header()) as response,
    ):
        async for chunk in response.content.iter_any():
            events += parser.feed(chunk)
            if len(events) >= deltas:
                break
    assert [e.event for e in events[:deltas]] == ["message"] * deltas
    return events[:deltas]


async def stop(lab: LabServer, answer_id: str) -> int:
    """DELETE /sse/{id} from a client of its own (another tab, another device); the status."""
    async with (
        aiohttp.ClientSession(headers=lab.auth_header()) as other,
        other.delete(f"{lab.url}/sse/{answer_id}") as response,
    ):
        return response.status


def text_of(events: list[ServerSentEvent]) -> str:
    return "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")


def finish_reason(events: list[ServerSentEvent]) -> str:
    """The finish_reason of the stream's last event, which must be its only `done`
    (its data may carry more than the finish_reason)."""
    *deltas, end = events
    assert [e.event for e in deltas] == ["message"] * len(deltas)
    assert end.event == "done"
    return str(json.loads(end.data)["finish_reason"])


def delta_ids(events: list[ServerSentEvent]) -> list[int]:
    return [int(e.id or 0) for e in events if e.event == "message"]


async def test_a_reader_that_leaves_mid_answer_does_not_stop_it(paced_lab, http) -> None:
    answer_id = await post_prompt(paced_lab, http)
    seen = await read_some(paced_lab, http, answer_id, deltas=5)
    assert paced_lab.running_answers() == 1  # nobody reads it now: it goes on

    rest = await read_answer(paced_lab, http, answer_id, last_event_id=seen[-1].id or "")

    assert text_of(seen) + text_of(rest) == "".join(answer_tokens(PROMPT))
    assert finish_reason(rest) == "stop"


async def test_ask_stops_its_answer_when_its_reader_leaves(paced_lab, http, tmp_path) -> None:
    async with http.get(f"{paced_lab.url}/ask?prompt={quote(PROMPT)}") as response:
        await response.content.readuntil(b"id: 3\n")

    # The answer is stored, as every answer is, and ends as a stop from its owner would.
    with closing(sqlite3.connect(tmp_path / "lab.db")) as db:
        ends = "SELECT status, finish_reason FROM answers WHERE owner = 'anonymous'"
        assert await until(lambda: db.execute(ends).fetchall() == [("done", "stopped")])
    assert paced_lab.running_answers() == 0
    assert await until(lambda: paced_lab.open_model_streams() == 0)


async def test_a_stop_from_another_client_ends_the_reader_with_done_stopped(
    paced_lab, http
) -> None:
    answer_id = await post_prompt(paced_lab, http)
    reader = asyncio.create_task(read_answer(paced_lab, http, answer_id))
    await read_some(paced_lab, http, answer_id, deltas=3)  # the answer has begun

    assert await stop(paced_lab, answer_id) == 200

    events = await reader  # the server ends the stream: nothing comes after the done
    assert finish_reason(events) == "stopped"
    assert 3 <= len(events) - 1 < len(answer_tokens(PROMPT))


async def test_a_stop_while_a_reader_resumes_ends_both_readers_with_the_same_done(
    paced_lab, http
) -> None:
    answer_id = await post_prompt(paced_lab, http)
    first = asyncio.create_task(read_answer(paced_lab, http, answer_id))
    seen = await read_some(paced_lab, http, answer_id, deltas=5)  # a reader that dropped

    # It comes back with Last-Event-ID as the stop goes out: either may reach the server first.
    resumed, status = await asyncio.gather(
        read_answer(paced_lab, http, answer_id, last_event_id=seen[-1].id or ""),
        stop(paced_lab, answer_id),
    )

    whole = await first
    assert status == 200
    assert finish_reason(whole) == finish_reason(resumed) == "stopped"
    assert (whole[-1].id, whole[-1].data) == (resumed[-1].id, resumed[-1].data)
    assert delta_ids(whole) == list(range(1, len(whole)))
    assert delta_ids(resumed) == list(range(6, len(whole)))  # each delta once, none lost
    assert text_of(seen) + text_of(resumed) == text_of(whole)


async def test_a_stale_stop_of_a_finished_answer_is_409_and_leaves_the_current_one(
    paced_lab, http
) -> None:
    earlier = await post_prompt(paced_lab, http, OTHER_PROMPT)
    assert finish_reason(await read_answer(paced_lab, http, earlier)) == "stop"
    current = await post_prompt(paced_lab, http)
    reader = asyncio.create_task(read_answer(paced_lab, http, current))

    assert await stop(paced_lab, earlier) == 409
    assert paced_lab.running_answers() == 1

    events = await reader
    assert finish_reason(events) == "stop"
    assert text_of(events) == "".join(answer_tokens(PROMPT))


async def test_a_second_prompt_while_one_is_generating_runs_beside_it(paced_lab, http) -> None:
    first = await post_prompt(paced_lab, http, PROMPT)
    second = await post_prompt(paced_lab, http, OTHER_PROMPT)

    assert first != second
    assert paced_lab.running_answers() == 2  # side by side: neither queued nor interrupted
    first_events, second_events = await asyncio.gather(
        read_answer(paced_lab, http, first), read_answer(paced_lab, http, second)
    )
    assert text_of(first_events) == "".join(answer_tokens(PROMPT))
    assert text_of(second_events) == "".join(answer_tokens(OTHER_PROMPT))
    assert finish_reason(first_events) == finish_reason(second_events) == "stop"


async def test_stopping_one_of_two_running_answers_leaves_the_other_running(
    paced_lab, http
) -> None:
    first = await post_prompt(paced_lab, http, PROMPT)
    second = await post_prompt(paced_lab, http, OTHER_PROMPT)
    readers = [asyncio.create_task(read_answer(paced_lab, http, i)) for i in (first, second)]
    await read_some(paced_lab, http, first, deltas=3)

    assert await stop(paced_lab, first) == 200
    assert paced_lab.running_answers() == 1

    first_events, second_events = await asyncio.gather(*readers)
    assert finish_reason(first_events) == "stopped"
    assert finish_reason(second_events) == "stop"
    assert text_of(second_events) == "".join(answer_tokens(OTHER_PROMPT))

"""`GET /answers/events`: several answers of one user on one stream, over a real socket.

Each event is the one `/sse/{id}` sends, its data tagged with `answer`; the client resumes
with one cursor per answer (`follow=ID:AFTER`), and the stream ends once all have ended.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import aiohttp
import pytest

from conftest import read_events, until
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.server.tabs import MAX_FOLLOWED
from sse_lab.sse import EventStreamParser, ServerSentEvent

PROMPTS = ("How does an EventSource reconnect?", "What is the retry field?")


@pytest.fixture
def slow_lab(tmp_path: Path) -> Iterator[LabServer]:
    """A lab whose answers take a second or two: long enough to interleave and to leave."""
    with start_server(token_delay=0.01, db_path=str(tmp_path / "lab.db")) as server:
        yield server


async def ask(lab: LabServer, http: aiohttp.ClientSession, prompt: str, user: str = "alice") -> str:
    headers = lab.auth_header(user)
    async with http.post(f"{lab.url}/new", json={"prompt": prompt}, headers=headers) as response:
        assert response.status == 201
        return str((await response.json())["id"])


def events_url(lab: LabServer, cursors: dict[str, int]) -> str:
    follows = "&".join(f"follow={answer_id}:{after}" for answer_id, after in cursors.items())
    return f"{lab.url}/answers/events?{follows}"


async def stream(
    lab: LabServer, http: aiohttp.ClientSession, cursors: dict[str, int]
) -> list[ServerSentEvent]:
    """Every event of the shared stream for `cursors`, until the server ends it."""
    async with http.get(events_url(lab, cursors), headers=lab.auth_header()) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        return await read_events(response)


def of_answer(events: list[ServerSentEvent], answer_id: str) -> list[tuple[str, str, dict]]:
    """One answer's events as (type, id, data without the `answer` tag), in stream order."""
    mine = [(e.event, e.id, json.loads(e.data)) for e in events]
    return [(kind, seq, data) for kind, seq, data in mine if data.pop("answer") == answer_id]


def text_of(events: list[tuple[str, str, dict]]) -> str:
    return "".join(data["delta"] for kind, _, data in events if kind == "message")


async def test_two_answers_share_one_stream_each_whole_and_in_order(slow_lab, http) -> None:
    ids = [await ask(slow_lab, http, prompt) for prompt in PROMPTS]
    async with asyncio.timeout(20):  # ends by itself, once both answers have
        events = await stream(slow_lab, http, dict.fromkeys(ids, 0))

    for answer_id, prompt in zip(ids, PROMPTS, strict=True):
        *deltas, done = of_answer(events, answer_id)
        assert [int(seq) for _, seq, _ in deltas] == list(range(1, len(deltas) + 1))
        assert text_of(deltas) == "".join(answer_tokens(prompt))
        assert done[:2] == ("done", str(len(deltas) + 1))
        assert done[2]["finish_reason"] == "stop"
        # Each event is the one `/sse/{id}` sends, `usage` of `done` and all, tagged.
        url, headers = f"{slow_lab.url}/sse/{answer_id}", slow_lab.auth_header()
        async with http.get(url, headers=headers) as response:
            alone = [(e.event, e.id, json.loads(e.data)) for e in await read_events(response)]
        assert of_answer(events, answer_id) == alone
    owners = [json.loads(e.data)["answer"] for e in events]
    switches = sum(a != b for a, b in pairwise(owners))
    assert switches > 10  # interleaved as they came, not one answer after the other


async def test_resuming_with_cursors_gives_exactly_the_rest_of_each_answer(lab, http) -> None:
    first, second = [await ask(lab, http, prompt) for prompt in PROMPTS]
    whole = await stream(lab, http, {first: 0, second: 0})
    first_end = len(of_answer(whole, first))  # the seq of its `done`

    rest = await stream(lab, http, {first: 3, second: 10})
    assert of_answer(rest, first) == of_answer(whole, first)[3:]
    assert of_answer(rest, second) == of_answer(whole, second)[10:]
    # A cursor at an answer's end: that answer is done with; at both ends, nothing is left.
    rest = await stream(lab, http, {first: first_end, second: 0})
    assert {json.loads(e.data)["answer"] for e in rest} == {second}
    url = events_url(lab, {first: first_end, second: len(of_answer(whole, second))})
    async with http.get(url, headers=lab.auth_header()) as response:
        assert response.status == 204


async def test_a_stream_left_midway_resumes_from_its_cursors_with_nothing_lost_or_twice(
    slow_lab, http
) -> None:
    ids = [await ask(slow_lab, http, prompt) for prompt in PROMPTS]
    cursors, seen, parser = dict.fromkeys(ids, 0), [], EventStreamParser()
    url, headers = events_url(slow_lab, cursors), slow_lab.auth_header()
    async with http.get(url, headers=headers) as response:
        async for chunk in response.content.iter_any():
            for event in parser.feed(chunk):
                seen.append(event)
                cursors[json.loads(event.data)["answer"]] = int(event.id)
            if min(cursors.values()) >= 5:
                break  # leave with both answers under way
    seen += await stream(slow_lab, http, cursors)

    for answer_id, prompt in zip(ids, PROMPTS, strict=True):
        *deltas, done = of_answer(seen, answer_id)
        assert [int(seq) for _, seq, _ in deltas] == list(range(1, len(deltas) + 1))
        assert text_of(deltas) == "".join(answer_tokens(prompt))
        assert done[0] == "done"


async def test_an_answer_of_another_user_or_an_unknown_one_is_404_alike(lab, http) -> None:
    mine, bobs = await ask(lab, http, PROMPTS[0]), await ask(lab, http, PROMPTS[1], "bob")
    errors = []
    for other in (bobs, "ans_unknown"):
        url = events_url(lab, {mine: 0, other: 0})
        async with http.get(url, headers=lab.auth_header()) as response:
            assert response.status == 404
            errors.append((await response.json())["error"].replace(other, "ID"))
    assert errors[0] == errors[1] == "no answer 'ID' for this user"
    async with http.get(events_url(lab, {mine: 0})) as response:
        assert response.status == 401  # no token


@pytest.mark.parametrize(
    ("follows", "says"),
    [
        ([], "nothing to follow"),
        (["ans_a"], "is not ID:AFTER"),
        ([":3"], "is not ID:AFTER"),
        (["ans_a:"], "must be a whole number"),
        (["ans_a:x"], "must be a whole number"),
        (["ans_a:-1"], "must be a whole number"),
        (["ans_a:" + "9" * 30], "must be a whole number"),
        (["ans_a:0", "ans_a:4"], "followed twice"),
        ([f"ans_{n}:0" for n in range(MAX_FOLLOWED + 1)], f"at most {MAX_FOLLOWED} answers"),
    ],
)
async def test_a_malformed_follow_list_is_400_and_says_why(lab, http, follows, says) -> None:
    params = [("follow", value) for value in follows]
    url = f"{lab.url}/answers/events"
    async with http.get(url, params=params, headers=lab.auth_header()) as response:
        assert response.status == 400
        assert says in (await response.json())["error"]


async def test_a_cursor_ahead_of_a_running_answer_is_400(slow_lab, http) -> None:
    answer_id = await ask(slow_lab, http, PROMPTS[1])
    url = events_url(slow_lab, {answer_id: 500})
    async with http.get(url, headers=slow_lab.auth_header()) as response:
        assert response.status == 400
        assert "ahead of this answer" in (await response.json())["error"]


async def test_a_client_that_leaves_leaves_no_stream_and_no_follow_task(slow_lab, http) -> None:
    ids = [await ask(slow_lab, http, prompt) for prompt in PROMPTS]
    url = events_url(slow_lab, dict.fromkeys(ids, 0))
    async with http.get(url, headers=slow_lab.auth_header()) as response:
        await response.content.readuntil(b"id: 2\n")
        assert slow_lab.open_streams() == 1
        follows = [name for name in slow_lab.task_names() if name.startswith("follow ")]
        assert follows == sorted(f"follow {answer_id}" for answer_id in ids)
        response.close()  # the client leaves mid-answer

    def gone() -> bool:
        names = slow_lab.task_names()
        return slow_lab.open_streams() == 0 and not [n for n in names if n.startswith("follow ")]

    assert await until(gone)
    assert slow_lab.running_answers() == 2  # the answers go on for whoever reads them next


async def test_head_gives_a_streams_headers_and_follows_nothing(lab, http) -> None:
    url = events_url(lab, {await ask(lab, http, PROMPTS[0]): 0})
    async with http.head(url, headers=lab.auth_header()) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
    assert lab.open_streams() == 0
    assert [name for name in lab.task_names() if name.startswith("follow ")] == []

"""Notebook 02's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

import pytest
from aiohttp import web

from conftest import load_solution, serving_app
from sse_lab import EventSource, ServerSentEvent
from sse_lab.lab.exercises.reconnection import (
    DROPPED_CONNECTIONS,
    check_merge_connections,
    check_predict_reconnect_ids,
    reconnect_ids,
)


def test_the_prediction_solution_passes(capsys, said) -> None:
    assert check_predict_reconnect_ids(
        load_solution("02_predict_reconnect_ids").predict_reconnect_ids
    )
    assert capsys.readouterr().out == said(
        "✅ you read the streams as an EventSource does\n",
        "✅ 你读这些流的方式和 EventSource 一样\n",
    )


def test_the_prediction_stub_fails_without_raising(capsys, said) -> None:
    assert not check_predict_reconnect_ids(lambda: None)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


def test_counting_the_id_of_a_cut_event_is_explained(capsys, said) -> None:
    assert not check_predict_reconnect_ids(lambda: ["3", "3", "5", ""])
    out = capsys.readouterr().out
    assert said("after connection 1", "第 1 个连接之后") in out
    assert said("was not dispatched", "没有被派发") in out


def test_the_last_event_id_carries_over_and_an_empty_id_resets_it() -> None:
    assert reconnect_ids([b"id: 7\ndata: x\n\n", b"data: y\n\n", b"id\ndata: z\n\n"]) == [
        "7",
        "7",
        "",
    ]


async def test_reconnect_ids_predicts_what_an_event_source_sends() -> None:
    served = iter(DROPPED_CONNECTIONS)

    async def cut_streams(request: web.Request) -> web.StreamResponse:
        received = next(served, None)
        if received is None:
            return web.Response(status=204)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(received)
        assert request.transport is not None
        request.transport.close()
        return response

    app = web.Application()
    app.router.add_get("/", cut_streams)
    async with serving_app(app) as url, EventSource(f"{url}/") as source:
        _ = [event async for event in source]
    sent = [attempt.last_event_id for attempt in source.attempts[1:]]
    assert sent == reconnect_ids(DROPPED_CONNECTIONS)


def test_the_merge_solution_passes(capsys, said) -> None:
    assert check_merge_connections(load_solution("02_merge_connections").merge_connections)
    assert capsys.readouterr().out == said(
        "✅ merge_connections keeps each event once and reports every gap\n",
        "✅ merge_connections 每个事件只保留一次，并报告了每个缺口\n",
    )


def test_the_merge_stub_fails_without_raising(capsys, said) -> None:
    assert not check_merge_connections(lambda connections: None)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


def test_concatenating_the_connections_keeps_the_repeats(capsys, said) -> None:
    def merge_connections(connections: list[list[ServerSentEvent]]):
        events = [e for events in connections for e in events if e.event == "message"]
        return events, [], []

    assert not check_merge_connections(merge_connections)
    assert (
        said("a server that replays", "一个从更早的 ID 开始重放的服务器") in capsys.readouterr().out
    )


def test_comparing_ids_as_strings_misses_the_gap(capsys, said) -> None:
    def merge_connections(connections: list[list[ServerSentEvent]]):
        merged, seen, repeated = [], set(), set()
        for event in (e for events in connections for e in events if e.event == "message"):
            (repeated if event.id in seen else seen).add(event.id)
            if event.id not in repeated:
                merged.append(event)
        top = max(seen, default="0")
        missing = [n for n in range(1, int(top) + 1) if str(n) not in seen]
        return merged, missing, sorted(int(n) for n in repeated)

    assert not check_merge_connections(merge_connections)
    assert said("ids past 9", "ID 超过 9") in capsys.readouterr().out


def message_events(connections: list[list[ServerSentEvent]]) -> list[ServerSentEvent]:
    return [e for events in connections for e in events if e.event == "message"]


def keeping_the_last_copy(*, move_to_the_end: bool):
    """A merge that keeps each id's latest copy (where it first came, or where it came last)."""

    def merge_connections(connections: list[list[ServerSentEvent]]):
        latest: dict[int, ServerSentEvent] = {}
        counts: dict[int, int] = {}
        for event in message_events(connections):
            n = int(event.id)
            counts[n] = counts.get(n, 0) + 1
            if move_to_the_end:
                latest.pop(n, None)
            latest[n] = event
        missing = [n for n in range(1, max(latest, default=0) + 1) if n not in latest]
        return list(latest.values()), missing, sorted(n for n, c in counts.items() if c > 1)

    return merge_connections


@pytest.mark.parametrize("move_to_the_end", [False, True])
def test_keeping_a_later_copy_of_a_repeated_id_is_told_so(move_to_the_end, capsys, said) -> None:
    assert not check_merge_connections(keeping_the_last_copy(move_to_the_end=move_to_the_end))
    out = capsys.readouterr().out
    assert said("a later copy of the repeated id", "重复 ID 2 后来的那份") in out
    assert said("keep the first copy", "应保留第一份") in out
    assert said("compare numbers", "按数字比较") not in out


def test_keeping_the_done_event_is_told_to_leave_it_out(capsys, said) -> None:
    solution = load_solution("02_merge_connections").merge_connections

    def merge_connections(connections: list[list[ServerSentEvent]]):
        events, missing, repeated = solution(connections)
        done = [e for received in connections for e in received if e.event == "done"]
        return events + done, missing, repeated

    assert not check_merge_connections(merge_connections)
    out = capsys.readouterr().out
    assert (
        said(
            "the events include `done`: keep only the `message` events",
            "事件里有 `done`：只保留 `message` 事件",
        )
        in out
    )


def test_a_merge_that_returns_equal_new_events_passes(capsys, said) -> None:
    solution = load_solution("02_merge_connections").merge_connections

    def merge_connections(connections: list[list[ServerSentEvent]]):
        events, missing, repeated = solution(connections)
        return [e._replace() for e in events], missing, repeated  # equal, not the same objects

    assert check_merge_connections(merge_connections)
    assert capsys.readouterr().out.startswith(
        said("✅ merge_connections keeps", "✅ merge_connections 每个")
    )

"""`GET /sse`, the demo stream: retry first, numbered events, heartbeats, resume, 204 at the end."""

from __future__ import annotations

import json

from conftest import read_events
from sse_lab.sse import EventStreamParser


async def test_the_demo_stream_sends_retry_numbered_events_and_done(lab, http) -> None:
    async with http.get(f"{lab.url}/sse?count=7&interval_ms=0") as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        raw = await response.read()

    assert raw.startswith(b"retry: 2000\nid: 1\n")
    assert raw.count(b": heartbeat\n") == 1  # after the fifth event
    events = EventStreamParser().feed(raw)
    assert [json.loads(e.data)["n"] for e in events[:-1]] == list(range(1, 8))
    assert [e.id for e in events] == [str(n) for n in range(1, 9)]
    assert events[-1].event == "done"


async def test_a_reconnect_resumes_after_the_last_event_id(lab, http) -> None:
    headers = {"Last-Event-ID": "4"}
    async with http.get(f"{lab.url}/sse?count=6&interval_ms=0", headers=headers) as response:
        events = await read_events(response)
    assert [e.id for e in events] == ["5", "6", "7"]


async def test_a_reconnect_after_done_gets_204(lab, http) -> None:
    headers = {"Last-Event-ID": "7"}
    async with http.get(f"{lab.url}/sse?count=6", headers=headers) as response:
        assert response.status == 204


async def test_drop_after_cuts_the_connection_without_done(lab, http) -> None:
    async with http.get(f"{lab.url}/sse?count=6&interval_ms=0&drop_after=2") as response:
        events = await read_events(response)
    assert [e.id for e in events] == ["1", "2"]

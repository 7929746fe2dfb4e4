"""`?lastEventId=`, where npm's event-source-polyfill puts the last id when it reconnects, is
honoured on /sse and /sse/{id} exactly as the `Last-Event-ID` header; the header wins. On /ask,
which has nothing to resume, either gets 204."""

from __future__ import annotations

import pytest

from conftest import read_events

PROMPT = "How does the polyfill resume?"


def fields(events: list) -> list[tuple[str, str, str]]:
    return [(e.event, e.id, e.data) for e in events]


async def demo_ids(lab, http, query: str, headers: dict[str, str] | None = None) -> list[str]:
    async with http.get(f"{lab.url}/sse?count=6&interval_ms=0&{query}", headers=headers) as r:
        assert r.status == 200
        return [e.id for e in await read_events(r)]


async def test_the_demo_stream_resumes_after_the_query_value(lab, http) -> None:
    assert await demo_ids(lab, http, "lastEventId=4") == ["5", "6", "7"]


async def test_the_header_wins_over_the_query_value(lab, http) -> None:
    assert await demo_ids(lab, http, "lastEventId=2", {"Last-Event-ID": "4"}) == ["5", "6", "7"]
    # A header that is sent empty means "from the start", whatever the query says.
    assert await demo_ids(lab, http, "lastEventId=2", {"Last-Event-ID": ""}) == [
        str(n) for n in range(1, 8)
    ]


async def test_a_query_value_after_done_gets_204(lab, http) -> None:
    async with http.get(f"{lab.url}/sse?count=6&lastEventId=7") as response:
        assert response.status == 204


@pytest.mark.parametrize("value", ["seven", "-1", "4.0", "٣"])
async def test_a_bad_query_value_is_a_400_as_a_bad_header_is(lab, http, value: str) -> None:
    for where in ({"params": {"lastEventId": value}}, {"headers": {"Last-Event-ID": value}}):
        async with http.get(f"{lab.url}/sse", **where) as response:  # type: ignore[arg-type]
            assert response.status == 400, where
            assert "Last-Event-ID must be a whole number" in (await response.json())["error"]


async def test_an_answer_resumes_from_the_query_value_as_from_the_header(lab, http) -> None:
    async with http.post(
        f"{lab.url}/new", json={"prompt": PROMPT}, headers=lab.auth_header()
    ) as response:
        created = await response.json()
    url = lab.url + created["eventsource_url"]  # as a polyfill appends to it: &lastEventId=
    async with http.get(url) as response:
        whole = await read_events(response)
    for seen in (0, 1, 5, len(whole) - 1):
        async with http.get(f"{url}&lastEventId={seen}") as by_query:
            rest = await read_events(by_query)
        headers = {**lab.auth_header(), "Last-Event-ID": str(seen)}
        async with http.get(lab.url + created["stream_url"], headers=headers) as by_header:
            assert fields(rest) == fields(await read_events(by_header)) == fields(whole[seen:])
    async with http.get(f"{url}&lastEventId={whole[-1].id}") as response:
        assert response.status == 204


async def test_ask_treats_the_query_value_as_the_header(lab, http) -> None:
    for where in ({"params": {"lastEventId": "3"}}, {"headers": {"Last-Event-ID": "3"}}):
        async with http.get(f"{lab.url}/ask?prompt=hi", **where) as response:  # type: ignore[arg-type]
            assert response.status == 204, where  # nothing to resume: no answer replayed
    for where in ({"params": {"lastEventId": "٣"}}, {"headers": {"Last-Event-ID": "٣"}}):
        async with http.get(f"{lab.url}/ask?prompt=hi", **where) as response:  # type: ignore[arg-type]
            assert response.status == 400, where
            assert "Last-Event-ID must be a whole number" in (await response.json())["error"]

"""Notebook 05's exercises: each solution passes its check, and the stubs and usual slips fail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from conftest import load_solution

from sse_lab import ServerSentEvent
from sse_lab.exercises.polyfills import check_collect_text, check_post_events


async def test_the_post_events_solution_passes(capsys) -> None:
    assert await check_post_events(load_solution("05_post_events").post_events)
    assert capsys.readouterr().out.startswith("✅")


async def test_the_post_events_stub_fails_without_raising(capsys) -> None:
    async def post_events(url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        return None

    assert not await check_post_events(post_events)
    assert "returned None" in capsys.readouterr().out


async def test_a_reader_that_forgets_the_headers_is_told_so(capsys) -> None:
    async def post_events(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[Any]:
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
            return [] if response.status == 401 else [await response.text()]

    assert not await check_post_events(post_events)
    assert "did you send the headers" in capsys.readouterr().out


async def test_splitting_the_body_on_blank_lines_by_hand_fails(capsys) -> None:
    async def post_events(
        url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> list[ServerSentEvent]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            text = await response.text()
        return [ServerSentEvent(data=block) for block in text.split("\n\n") if block]

    assert not await check_post_events(post_events)
    assert "❌ not yet" in capsys.readouterr().out


async def test_the_collect_text_solution_passes(capsys) -> None:
    assert await check_collect_text(load_solution("05_collect_text").collect_text)
    assert capsys.readouterr().out.startswith("✅")


async def test_the_collect_text_stub_fails_without_raising(capsys) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> None:
        return None

    assert not await check_collect_text(collect_text)
    assert "returned None" in capsys.readouterr().out


async def test_reading_past_done_fails(capsys) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
        pieces = []
        async for event in events:
            if event.data != "[DONE]":
                for choice in json.loads(event.data)["choices"]:
                    pieces.append(choice["delta"].get("content") or "")
        return "".join(pieces)

    assert not await check_collect_text(collect_text)
    assert "after data: [DONE]" in capsys.readouterr().out


async def test_a_null_content_that_crashes_the_join_is_reported(capsys) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
        pieces = []
        async for event in events:
            if event.data == "[DONE]":
                break
            for choice in json.loads(event.data)["choices"]:
                pieces.append(choice["delta"].get("content", ""))
        return "".join(pieces)

    assert not await check_collect_text(collect_text)
    assert "raised TypeError" in capsys.readouterr().out

"""Shared fixtures: a real lab server on a free port, and an HTTP client session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from sse_lab.launch import LabServer, start_server
from sse_lab.sse import EventStreamParser, ServerSentEvent


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabServer]:
    """The whole lab server, model pace 0, answers in a fresh SQLite file."""
    with start_server(token_delay=0, db_path=str(tmp_path / "lab.db")) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def read_events(response: aiohttp.ClientResponse) -> list[ServerSentEvent]:
    """Every event of an SSE response, until the server closes or drops it."""
    parser = EventStreamParser()
    events: list[ServerSentEvent] = []
    try:
        async for chunk in response.content.iter_any():
            events.extend(parser.feed(chunk))
    except aiohttp.ClientPayloadError:
        pass  # the connection was cut mid-response: keep what arrived
    return events


async def until(condition: Callable[[], bool], seconds: float = 10) -> bool:
    """Poll `condition` until it holds or `seconds` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True

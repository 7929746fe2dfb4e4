"""The package's Python clients through a real Jupyter server's proxy, which streams only a
request whose `Accept` is exactly `text/event-stream` (and buffers any other till its end)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from conftest import Jupyter, until
from sse_lab import EventSource, EventSourcePolyfill, fetch_event_source
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens

PROMPT = "How does reconnection with Last-Event-ID work?"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A lab server at a visible pace: the answer takes about 2 s."""
    db = tmp_path_factory.mktemp("proxy-clients") / "lab.db"
    with start_server(token_delay=0.02, db_path=str(db)) as server:
        yield server


@pytest.fixture
async def jupyter_session(jupyter: Jupyter) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session holding the Jupyter server's login cookie, as a browser would."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{jupyter.url}/?token={jupyter.token}") as response:
            assert response.status == 200
        yield session


async def test_the_python_clients_stream_through_the_jupyter_servers_proxy(
    jupyter: Jupyter, lab: LabServer, jupyter_session: aiohttp.ClientSession
) -> None:
    base = jupyter.proxied(lab)
    async with jupyter_session.post(
        f"{base}/new", json={"prompt": PROMPT}, headers=lab.auth_header()
    ) as response:
        assert response.status == 201
        created = await response.json()

    started = time.monotonic()
    stream = fetch_event_source(
        base + created["stream_url"], headers=lab.auth_header(), session=jupyter_session
    )
    times = [time.monotonic() - started async for event in stream if event.event == "message"]
    assert len(times) == len(answer_tokens(PROMPT))
    assert times[0] < times[-1] / 2  # the first delta came long before the last: streamed


def accepts(lab: LabServer, path: str) -> list[str | None]:
    """The `Accept` header of each request for `path` that the lab server saw."""
    return [
        {name.lower(): value for name, value in r["headers"].items()}.get("accept")
        for r in lab.seen_requests(path)
    ]


async def test_every_stream_client_asks_for_exactly_text_event_stream(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    with start_server(token_delay=0, db_path=str(tmp_path / "lab.db")) as lab:
        url = f"{lab.url}/sse?count=1&interval_ms=0"
        for source in (EventSource(url), EventSourcePolyfill(url, headers=lab.auth_header())):
            async with source:
                async for event in source:
                    if event.event == "done":
                        break
        _ = [event async for event in fetch_event_source(url)]
        # The answer service asks the model (this server's own /v1) for a stream.
        async with http.post(
            f"{lab.url}/new", json={"prompt": "hi"}, headers=lab.auth_header()
        ) as response:
            assert response.status == 201
        assert await until(lambda: bool(lab.seen_requests("/v1/chat/completions")))

        assert accepts(lab, "/sse?") == ["text/event-stream"] * 3
        assert accepts(lab, "/v1/chat/completions") == ["text/event-stream"]

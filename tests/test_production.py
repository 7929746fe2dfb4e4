"""SSE in production, with the real parts: an nginx in front of the lab server (buffering,
gzip, idle timeouts), and Chromium's six connections per origin against HTTP/2.

Every nginx runs on a free port in a temporary directory and is stopped by its process id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from conftest import unavailable
from sse_lab import EventSourcePolyfill, fetch_event_source, start_server
from sse_lab.lab.launch import LabServer
from sse_lab.model import answer_tokens
from sse_lab.services.chromium import Chromium, browser_missing, launch_chromium, open_event_sources
from sse_lab.services.nginx import NginxProxy, nginx_missing, start_nginx
from sse_lab.services.process import MissingProgram, running_services

PROMPT = "What is SSE?"
PACE = 0.025  # seconds between the model's tokens
TOKENS = 40  # a short answer (1.5 KB of events): less than one of nginx's buffers


def nginx(upstream: str, **options: Any) -> NginxProxy:
    """`start_nginx([upstream], **options)`, or a skip (a failure in CI) without nginx."""
    if missing := nginx_missing():
        unavailable(missing)
    return start_nginx([upstream], **options)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    db = tmp_path_factory.mktemp("production") / "lab.db"
    with start_server(token_delay=PACE, max_tokens=TOKENS, db_path=str(db)) as server:
        yield server


async def ask(base_url: str, lab: LabServer, prompt: str = PROMPT) -> str:
    """POST /new as alice through `base_url`; the answer's stream URL there."""
    async with (
        aiohttp.ClientSession(headers=lab.auth_header()) as http,
        http.post(f"{base_url}/new", json={"prompt": prompt}) as response,
    ):
        assert response.status == 201
        return base_url + (await response.json())["stream_url"]


async def delta_arrivals(base_url: str, lab: LabServer) -> list[float]:
    """Seconds from POST /new to the arrival of each delta, read through `base_url`."""
    started = time.monotonic()
    stream_url = await ask(base_url, lab)
    return [
        time.monotonic() - started
        async for event in fetch_event_source(stream_url, headers=lab.auth_header())
        if event.event == "message"
    ]


def test_without_nginx_or_chromium_the_lab_says_in_one_line_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def nothing_installed(name: str, debian_package: str) -> str:
        raise MissingProgram(f"{name} is not installed: `sudo apt-get install {debian_package}`")

    monkeypatch.setattr("sse_lab.services.nginx.find_program", nothing_installed)
    monkeypatch.setattr("sse_lab.services.chromium.find_chromium", lambda: None)

    assert nginx_missing() == "nginx is not installed: `sudo apt-get install nginx`"
    assert "install chromium`" in (browser_missing() or "")
    with pytest.raises(MissingProgram, match="apt-get install nginx"):
        start_nginx(["127.0.0.1:1"])


def test_nginx_runs_from_its_own_directory_and_stops_by_its_pid(lab: LabServer) -> None:
    proxy = nginx(lab.url)
    workdir = proxy.service.workdir
    assert (workdir / "nginx.pid").read_text().strip() == str(proxy.service.pid)
    assert (workdir / "nginx.conf").read_text() == proxy.config
    assert f"server 127.0.0.1:{lab.url.rsplit(':', 1)[1]};" in proxy.config
    assert proxy.service in running_services()
    proxy.stop()
    assert not proxy.running
    assert not workdir.exists()
    assert proxy.service not in running_services()


@pytest.mark.parametrize(
    ("options", "streams"),
    [
        ({}, True),  # the lab's X-Accel-Buffering: no
        ({"honour_accel_buffering": False}, False),  # as for a server without the header
        ({"honour_accel_buffering": False, "buffering": False}, True),
        ({"honour_accel_buffering": False, "gzip": True}, False),
        ({"gzip": True}, True),
    ],
    ids=["header", "buffering", "buffering-off", "gzip-buffering", "gzip-header"],
)
async def test_nginx_passes_deltas_on_as_they_come_only_unbuffered(
    lab: LabServer, options: dict[str, Any], streams: bool
) -> None:
    with nginx(lab.url, **options) as proxy:
        arrivals = await delta_arrivals(proxy.url, lab)

    assert len(arrivals) == TOKENS
    generation = PACE * TOKENS  # the model cannot be faster than its pace
    if streams:
        assert arrivals[-1] - arrivals[0] > generation / 2  # the deltas trickled in
    else:
        assert arrivals[0] > generation * 0.9  # the first came only once the model was done
        assert arrivals[-1] - arrivals[0] < generation / 4


async def test_gzip_compresses_the_event_stream_and_nginx_names_the_upstream(
    lab: LabServer,
) -> None:
    with nginx(lab.url, gzip=True) as proxy:
        stream_url = await ask(proxy.url, lab)
        async with (
            aiohttp.ClientSession(headers=lab.auth_header()) as http,
            http.get(stream_url, headers={"Accept-Encoding": "gzip"}) as response,
        ):
            body = await response.text()
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["X-Upstream"] == lab.url.removeprefix("http://")
    assert body.count("event: done") == 1


@pytest.fixture
def slow_lab(tmp_path: Path) -> Iterator[LabServer]:
    """A model that pauses 1.3 s between tokens, behind streams that announce retry: 50."""
    db = str(tmp_path / "slow.db")
    with start_server(token_delay=1.3, max_tokens=3, retry_ms=50, db_path=db) as server:
        yield server


@pytest.fixture
def impatient(slow_lab: LabServer) -> Iterator[NginxProxy]:
    """An nginx that cuts a response after 1 s without news from the upstream."""
    with nginx(slow_lab.url, read_timeout=1.0) as proxy:
        yield proxy


async def read_with_reconnects(stream_url: str, lab: LabServer) -> tuple[str, list[str]]:
    """The answer's text as an EventSource reads it, and the Last-Event-ID of each attempt."""
    pieces = []
    async with EventSourcePolyfill(stream_url, headers=lab.auth_header()) as source:
        async with asyncio.timeout(20):
            async for event in source:
                if event.event == "message":
                    pieces.append(json.loads(event.data)["delta"])
                elif event.event == "done":
                    break
    return "".join(pieces), [attempt.last_event_id for attempt in source.attempts]


def model_calls(lab: LabServer) -> int:
    return len(lab.seen_requests("/v1/chat/completions"))


async def test_a_cut_stream_resumes_with_last_event_id_and_the_model_runs_once(
    slow_lab: LabServer, impatient: NginxProxy
) -> None:
    text, sent_ids = await read_with_reconnects(await ask(impatient.url, slow_lab), slow_lab)

    assert text == "".join(answer_tokens(PROMPT)[:3])
    assert len(sent_ids) > 2  # cut in every pause
    assert sent_ids[-1] == "2"  # ... and resumed after the last delta seen
    assert model_calls(slow_lab) == 1
    assert "upstream timed out" in impatient.error_log()


async def test_a_server_that_ties_the_model_to_the_request_pays_for_every_cut(
    slow_lab: LabServer, impatient: NginxProxy
) -> None:
    """/ask runs the model for as long as its request lasts: each reconnect starts it again."""
    source = EventSourcePolyfill(f"{impatient.url}/ask?prompt=What+is+SSE")
    source.on_error = lambda: len(source.attempts) == 3 and source.close()  # after 3 cuts
    async with source, asyncio.timeout(20):
        deltas = [event async for event in source if event.event == "message"]

    assert deltas == []
    assert [attempt.last_event_id for attempt in source.attempts] == ["", "", ""]
    assert model_calls(slow_lab) == 3


async def test_heartbeats_more_often_than_the_proxy_timeout_keep_the_stream_open(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "beating.db")
    with (
        start_server(token_delay=1.3, max_tokens=3, heartbeat=0.25, db_path=db) as lab,
        nginx(lab.url, read_timeout=1.0) as proxy,
    ):
        text, sent_ids = await read_with_reconnects(await ask(proxy.url, lab), lab)
    assert text == "".join(answer_tokens(PROMPT)[:3])
    assert sent_ids == [""]  # one connection, never cut


# --- in Chromium -------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Chromium]:
    if missing := browser_missing():
        unavailable(missing)
    async with await launch_chromium(ignore_certificate_errors=True) as browser:
        yield browser


def demo_streams(count: int, events: int) -> list[str]:
    """`count` distinct demo streams of `events` events, 100 ms apart."""
    return [f"/sse?count={events}&interval_ms=100&stream={n}" for n in range(1, count + 1)]


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_over_http1_the_seventh_eventsource_waits_for_one_of_six_to_close(
    chromium: Chromium, lab: LabServer
) -> None:
    streams = await open_event_sources(chromium, lab.url, demo_streams(7, 10))
    first_six, seventh = streams[:6], streams[6]

    closes = [s.closed for s in first_six]
    assert None not in closes and seventh.first_event is not None
    assert all(s.first_event is not None and s.first_event < min(closes) for s in first_six)
    assert seventh.first_event >= min(closes)
    assert {s.protocol for s in first_six} == {"http/1.1"}


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_over_http2_through_nginx_twenty_eventsources_flow_at_once(
    chromium: Chromium, lab: LabServer
) -> None:
    with nginx(lab.url, http2=True) as proxy:
        assert proxy.url.startswith("https://")
        streams = await open_event_sources(chromium, proxy.url, demo_streams(20, 10))

    first_events = [s.first_event for s in streams]
    assert None not in first_events
    assert max(first_events) < 1.0  # type: ignore[type-var]
    assert "h2" in {s.protocol for s in streams}

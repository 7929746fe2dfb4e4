"""The peer servers of benchmarks/peers/ really do the chat job the benchmark times them on.

Each is started as its docstring says, on a free port, against a lab server's built-in
model: `POST /new`, then `GET /sse/{id}` streams the model's answer as numbered deltas and
ends with `done`. Their libraries are the `bench` extra, which `make test` installs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import aiohttp
import pytest

from conftest import read_events
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benchmarks" / "peers"
SCRIPTS = ["aiohttp_sse_server.py", "starlette_sse_server.py", "bare_aiohttp_server.py"]
PROMPT = "Why the POST design instead of the query string?"


@pytest.fixture(scope="module")
def bench_extra() -> None:
    """The `bench` extra's libraries, which `make test` installs: missing, the test fails in
    CI and skips elsewhere."""
    missing = [m for m in ("aiohttp_sse", "sse_starlette", "uvicorn") if not find_spec(m)]
    if missing:
        reason = f"the bench extra is not installed ({', '.join(missing)}): run `make test`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def model() -> Iterator[LabServer]:
    """A lab server whose /v1 is the peers' model, at pace 0."""
    with start_server(token_delay=0) as server:
        yield server


@pytest.fixture(params=SCRIPTS)
def peer(request: pytest.FixtureRequest, bench_extra: None, model: LabServer) -> Iterator[str]:
    """A peer server in a process of its own, started as its docstring says: its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, str(PEERS / request.param), f"--port={port}"]
    process = subprocess.Popen([*command, f"--model-url={model.url}/v1"])
    try:
        deadline = time.monotonic() + 60  # imports are slow on a busy machine
        while not listening(port):
            assert process.poll() is None, f"{request.param} exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{request.param} did not listen within 60 s"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_a_peer_streams_the_models_answer_as_numbered_deltas_then_done(
    peer: str, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{peer}/new", json={"prompt": PROMPT}) as response:
        assert response.status == 201
        answer = (await response.json())["id"]
    async with http.get(f"{peer}/sse/{answer}") as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        events = await read_events(response)
    *deltas, done = events
    tokens = answer_tokens(PROMPT)
    assert [json.loads(event.data)["delta"] for event in deltas] == tokens
    assert [event.id for event in deltas] == [str(n) for n in range(1, len(tokens) + 1)]
    assert {event.event for event in deltas} == {"message"}
    assert (done.event, done.id) == ("done", str(len(tokens) + 1))
    assert json.loads(done.data) == {"finish_reason": "stop"}


async def test_a_peer_refuses_an_empty_prompt_and_an_unknown_id(
    peer: str, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{peer}/new", json={"prompt": " "}) as response:
        assert response.status == 400
    async with http.get(f"{peer}/sse/ans_unknown") as response:
        assert response.status == 404

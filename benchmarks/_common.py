"""What the server benchmarks share: a server in a process of its own, stream reading, tables.

The server under test runs in a child process (its own interpreter and event loop), so the
client's work does not share its thread; the child's /proc entry gives its memory and CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from sse_lab.config import Settings
from sse_lab.server.app import create_app, freeze_heap, runner_for
from sse_lab.server.streams import SSE_HEADERS
from sse_lab.sse import EventStreamParser, ServerSentEvent, encode_retry

PEERS = Path(__file__).with_name("peers")  # the same job on other SSE stacks
USER = "bench"
TOKEN = "tok_benchmark_0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RETRY_MS = Settings().retry_ms

# Prompts on two topics each: the built-in model's longest answers (about 190-210 tokens).
LONG_PROMPTS = (
    "How do reconnection and Last-Event-ID work behind a proxy that buffers?",
    "Compare WebSockets with SSE over HTTP/2 and its connection limit.",
    "What is the wire format, and how does an OpenAI chat completion stream it?",
    "Why the POST design instead of the query string?",
    "EventSource limitations with headers, and what a polyfill changes.",
    "How do I stop an answer, and what about an idle proxy timeout?",
)

ServerFactory = Callable[..., web.AppRunner]
Chunks = list[tuple[float, bytes]]  # (time.monotonic() on arrival, bytes)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time process `pid` has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> int:
    """Lift the soft limit on open files to the hard one; thousands of sockets need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def lab_runner(url: str, changes: dict[str, Any], model_url: str = "") -> web.AppRunner:
    """The lab app as `python -m sse_lab serve` runs it, answering through the built-in
    model on `model_url`/v1: another lab server's, as a remote provider, or by default its own."""
    settings = replace(Settings(users={USER: TOKEN}), **changes)
    upstream = replace(settings.upstream, base_url=f"{model_url or url}/v1")
    app = create_app(replace(settings, upstream=upstream))
    app.on_startup.append(freeze_heap)
    return runner_for(app)


def bare_runner(routes: web.RouteTableDef) -> web.AppRunner:
    """A bare aiohttp app with just `routes`: no middleware, store, auth or model."""
    app = web.Application()
    app.add_routes(routes)
    return web.AppRunner(app)


def answer_events(tokens: Sequence[str]) -> Iterator[bytes]:
    """An answer's stream event by event, as the lab writes it: retry, deltas, done.

    Lazy, so that a handler encodes each event just before writing it, as the lab does."""
    yield encode_retry(RETRY_MS)
    for seq, text in enumerate(tokens, 1):
        yield ServerSentEvent(data=json.dumps({"delta": text}), id=str(seq)).encode()
    done = json.dumps({"finish_reason": "stop"})
    yield ServerSentEvent(data=done, event="done", id=str(len(tokens) + 1)).encode()


async def open_stream(request: web.Request) -> web.StreamResponse:
    """A prepared `text/event-stream` response with the lab's headers, for bare handlers."""
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    return response


class Measured:
    """A server process on 127.0.0.1 at `url`, whose /proc entry tells its memory and CPU."""

    url: str
    pid: int

    def status_kib(self, field: str) -> int:
        """A memory field of /proc/<pid>/status in KiB, e.g. VmRSS or VmHWM (the peak)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerProcess(Measured):
    """An aiohttp server in a child process on 127.0.0.1 (free port), until `stop()`.

    `factory(url, *args)` builds the runner in the child; it must be importable there.
    """

    def __init__(self, factory: ServerFactory, *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._pipe = ours
        self._process = context.Process(target=_serve, args=(theirs, factory, args), daemon=True)
        self._process.start()
        theirs.close()
        try:
            if not ours.poll(60):
                raise EOFError
            self.url = ours.recv()
        except EOFError:
            self.stop()
            raise RuntimeError("the server process did not start") from None
        self.pid = self._process.pid or 0

    def stop(self) -> None:
        """Ask the server to clean up and exit; kill it if it has not within 30 s."""
        if self._process.is_alive():
            with contextlib.suppress(OSError):  # a dead child's pipe is broken
                self._pipe.send("stop")
            self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._pipe.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PeerProcess(Measured):
    """A peer server script of benchmarks/peers/ run as its README says, on a free port of
    127.0.0.1, its model at `model_url` (an OpenAI-style /v1), until `stop()`."""

    def __init__(self, script: str, model_url: str) -> None:
        with socket.socket() as probe:  # a free port: taken again at once by the peer
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, str(PEERS / script), f"--port={port}"]
        command.append(f"--model-url={model_url}")
        # Its log (aiohttp-sse logs a traceback for each reader that left) goes to a file.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=raise_fd_limit
        )
        self.pid = self._process.pid
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                self.log.seek(0)
                raise RuntimeError(f"{script} did not start: {self.log.read()[-2000:]!r}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as a process manager stops a server; killed if not gone within 30 s."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self.log.close()

    def __enter__(self) -> PeerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _serve(pipe: Connection, factory: ServerFactory, args: tuple[Any, ...]) -> None:
    raise_fd_limit()
    sock = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with tempfile.TemporaryDirectory(prefix="sse-bench-") as scratch:
        os.chdir(scratch)  # a relative db_path lands here and goes with it
        asyncio.run(_run(pipe, factory(url, *args), sock, url))


async def _run(pipe: Connection, runner: web.AppRunner, sock: socket.socket, url: str) -> None:
    await runner.setup()
    # A deep accept queue: a thousand readers connecting at once must not wait for SYN retries.
    await web.SockSite(runner, sock, backlog=4096).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_reader(pipe.fileno(), stop.set)
    pipe.send(url)
    await stop.wait()
    await runner.cleanup()


def client_session(connections: int = 0) -> aiohttp.ClientSession:
    """A client session on at most `connections` sockets (0: no limit), without time limits
    of its own (the callers bound their waits)."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))


async def new_answer(session: aiohttp.ClientSession, url: str, prompt: str) -> str:
    """`POST /new`: the new answer's id."""
    async with session.post(f"{url}/new", json={"prompt": prompt}, headers=AUTH) as response:
        response.raise_for_status()
        body: dict[str, str] = await response.json()
        return body["id"]


async def read_chunks(response: aiohttp.ClientResponse, into: Chunks | None = None) -> Chunks:
    """The response body as it arrives: each chunk with its arrival time, parsed later, so
    that reading costs the client little. With `into`, what came stays there if cancelled."""
    chunks = [] if into is None else into
    async for chunk in response.content.iter_any():
        chunks.append((time.monotonic(), chunk))
    return chunks


def timed_events(chunks: Chunks) -> list[tuple[float, ServerSentEvent]]:
    """The events of a stream, each with the arrival time of the chunk that completed it."""
    parser = EventStreamParser()
    return [(at, event) for at, chunk in chunks for event in parser.feed(chunk)]


def machine_note() -> str:
    """The cores and the load average when the run began: other work skews the numbers."""
    return f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    """The median, for symmetry with `percentile`."""
    return statistics.median(values)


def print_table(columns: Sequence[tuple[str, int]], rows: Sequence[Sequence[object]]) -> None:
    """Rows under a header of (title, width) columns: the first left-aligned, others right."""
    for cells in [[title for title, _ in columns], *rows]:
        widths = [width for _, width in columns]
        line = [f"{c!s:>{w}}" for c, w in zip(cells, widths, strict=True)]
        line[0] = f"{cells[0]!s:<{widths[0]}}"
        print("".join(line))

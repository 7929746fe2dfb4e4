"""Shared fixtures: a real lab server on a free port, and an HTTP client session."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import aiohttp
import httpx
import pytest
from aiohttp import web
from IPython.core.interactiveshell import InteractiveShell
from playwright.sync_api import Browser, sync_playwright
from traitlets.config import Config

from sse_lab.lab.i18n import language, use_language
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.services.chromium import CHROMIUM_ARGS, browser_missing, find_chromium
from sse_lab.services.process import MissingProgram, ServiceProcess, start_process
from sse_lab.services.redis import RedisServer, start_redis
from sse_lab.sse import EventStreamParser, ServerSentEvent
from sse_lab.stores.base import AnswerStore, Batch, Delta, End, follow


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


def unavailable(reason: str) -> None:
    """Browser tests may be skipped on a laptop, never in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests", pytrace=False)
    pytest.skip(f"BROWSER TESTS SKIPPED: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole module: the one `find_chromium` finds, as the lab's."""
    executable = find_chromium()
    if executable is None:
        unavailable(browser_missing() or "no Chromium")
    with sync_playwright() as playwright:
        args = list(CHROMIUM_ARGS)
        chromium = playwright.chromium.launch(executable_path=str(executable), args=args)
        yield chromium
        chromium.close()


@dataclass(frozen=True)
class Said:
    """What a check prints in the language of the test's run: `said("returned None", "返回了
    None")` is the first in English, the second in Chinese."""

    language: str

    def __call__(self, english: str, chinese: str) -> str:
        return chinese if self.language == "zh" else english


@pytest.fixture(params=["en", "zh"])
def said(request: pytest.FixtureRequest) -> Iterator[Said]:
    """Runs the test once in each language the checks speak (`use_language`), English again
    after it; `said(english, chinese)` is what to look for in this run's language."""
    use_language(request.param)
    assert language() == request.param, "the Chinese messages are not compiled: run `make test`"
    try:
        yield Said(request.param)
    finally:
        use_language("en")


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A real IPython shell, as a notebook's kernel runs cells, its history in memory: for
    the checks that look at the learner's latest cell (failed_definition_problem)."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()


SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"


def load_solution(name: str) -> ModuleType:
    """The module notebooks/solutions/<name>.py, as `%load` would bring it into a notebook."""
    return load_file(SOLUTIONS / f"{name}.py")


def load_file(path: Path) -> ModuleType:
    """The Python file at `path` as a module, for files outside a package (a solution, a
    benchmark script)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_redis() -> Iterator[RedisServer]:
    """One real redis-server for the run; answers have random ids, so tests share it. Missing:
    a failure in CI, a loud skip elsewhere."""
    try:
        server = start_redis()
    except MissingProgram as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}; CI must run the Redis tests", pytrace=False)
        pytest.skip(f"REDIS TESTS SKIPPED: {exc}")
    with server:
        yield server


@pytest.fixture(scope="module")
def redis_server(shared_redis: RedisServer) -> RedisServer:
    """The shared redis-server, started again (same port and data) if a test stopped every
    program the lab runs (`stop_all()`)."""
    if not shared_redis.running:
        shared_redis.resume()
    return shared_redis


@dataclass(frozen=True)
class Jupyter:
    """A running Jupyter server: its process and its login token."""

    service: ServiceProcess
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.port}"

    def proxied(self, lab: LabServer) -> str:
        """The lab server's root through this Jupyter server's proxy, without its slash."""
        return f"{self.url}/proxy/{lab.url.rsplit(':', 1)[1]}"


def wait_until_ready(url: str, service: ServiceProcess, name: str, seconds: float = 60) -> None:
    """Poll `url` until it answers 200 (the server `service` runs has started), or fail with
    the server's log if it exits or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not service.running:
            pytest.fail(f"{name} did not start:\n{service.log_tail()}", pytrace=False)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def jupyter() -> Iterator[Jupyter]:
    """The venv's `jupyter-server` on a free port, in a temporary directory, with
    jupyter-server-proxy loaded (checked in its log); stopped by its pid."""
    token = secrets.token_hex(16)
    binary = str(Path(sys.executable).with_name("jupyter-server"))

    def argv(workdir: Path, port: int) -> list[str]:
        return [
            binary,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={workdir}",
            "--allow-root",
        ]

    with start_process(
        "jupyter-server", argv, timeout=60, env={"JUPYTER_RUNTIME_DIR": "runtime"}
    ) as service:
        server = Jupyter(service, token)
        wait_until_ready(f"{server.url}/api/status?token={token}", service, "jupyter-server")
        assert "jupyter_server_proxy | extension was successfully loaded" in service.log_tail(200)
        yield server


@asynccontextmanager
async def serving_app(app: web.Application) -> AsyncIterator[str]:
    """A small aiohttp app of a test on a free port of 127.0.0.1: its base URL, until the
    block ends."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class Reader:
    """A reader following an answer in a task of its own, as a route does."""

    def __init__(self, store: AnswerStore, answer_id: str, after: int = 0) -> None:
        self.batches: list[Batch] = []
        self.task = asyncio.create_task(self._read(store, answer_id, after))

    async def _read(self, store: AnswerStore, answer_id: str, after: int) -> None:
        async for batch in follow(store, answer_id, after):
            self.batches.append(batch)

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.deltas]

    @property
    def deltas(self) -> list[tuple[int, str]]:
        return [(p.seq, p.text) for b in self.batches for p in b.pieces if isinstance(p, Delta)]

    @property
    def end(self) -> End | None:
        last = self.batches[-1].pieces[-1] if self.batches and self.batches[-1].pieces else None
        return last if isinstance(last, End) else None

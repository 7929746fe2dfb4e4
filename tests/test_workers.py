"""Several server processes on one Redis: `python -m sse_lab serve --store redis://...` run as
real processes on real sockets. An answer started on one worker is read, resumed and
stopped on any other; a worker killed mid-answer, or Redis going away, ends it with an error.
Then Redis's faults: a stall (SIGSTOP) of Redis or of a reader's worker, a password."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from conftest import read_events, until
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.services.process import free_port
from sse_lab.services.redis import RedisServer, start_redis
from sse_lab.sse import EventStreamParser, ServerSentEvent
from sse_lab.stores.redis import STORE_LOST, WORKER_LOST

TOKEN = "tok_workers_0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROMPT = "How does an EventSource reconnect?"
LONG_PROMPT = "Tell me everything about SSE and WebSockets"


@dataclass
class Worker:
    """One `python -m sse_lab serve` process and the URL it printed."""

    url: str
    process: subprocess.Popen[str]
    banner: str = ""  # the first line it printed

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def serve(store: str, log: Path, *extra: str, model: str = "") -> Worker:
    """Start `serve --store` on a free port; with `model`, its answers come from that /v1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    if model:
        env |= {"OPENAI_API_KEY": "x", "OPENAI_BASE_URL": model, "SSE_LAB_MODEL": "sse-lab-tiny"}
    command = [sys.executable, "-m", "sse_lab", "serve", "--port", "0", "--store", store]
    command += ["--token", f"alice={TOKEN}", "--token-delay", "0.03", *extra]
    with open(log, "a") as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env
        )
    assert process.stdout is not None
    banner = process.stdout.readline()  # printed once the server (or every worker) listens
    url = re.search(r"http://127\.0\.0\.1:\d+", banner)
    if url is None:
        process.kill()
        pytest.fail(f"serve printed {banner!r}; its log:\n{log.read_text()}")
    return Worker(url[0], process, banner)


@pytest.fixture(scope="module")
def model() -> Iterator[LabServer]:
    """The model every worker calls, in a process of its own (this test's): its open streams
    show whether a worker's generation still runs."""
    with start_server(token_delay=0.03) as server:
        yield server


@pytest.fixture(scope="module")
def workers(
    redis_server: RedisServer, model: LabServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Worker]]:
    """Workers A, B and C: three `serve` processes on one Redis, each on its own port."""
    log = tmp_path_factory.mktemp("workers") / "workers.log"
    started = [serve(redis_server.url, log, model=f"{model.url}/v1") for _ in range(3)]
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


async def ask(http: aiohttp.ClientSession, worker: Worker, prompt: str = PROMPT) -> str:
    async with http.post(f"{worker.url}/new", json={"prompt": prompt}) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["id"])


async def stream(
    http: aiohttp.ClientSession, worker: Worker, answer_id: str
) -> list[ServerSentEvent]:
    async with http.get(f"{worker.url}/sse/{answer_id}") as response:
        assert response.status == 200
        return await read_events(response)


async def first_delta(http: aiohttp.ClientSession, worker: Worker, answer_id: str) -> None:
    """Wait until the answer has begun (one event read on `worker`)."""
    async with http.get(f"{worker.url}/sse/{answer_id}") as response:
        async for line in response.content:
            if line.startswith(b"id:"):
                return


def fields(events: list[ServerSentEvent]) -> list[tuple[str, str, str]]:
    return [(e.event, e.id, e.data) for e in events]


def text_of(events: list[ServerSentEvent]) -> str:
    return "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")


async def test_an_answer_started_on_one_worker_is_read_on_the_others(workers, http) -> None:
    a, b, c = workers
    answer_id = await ask(http, a)
    on_b, on_c = await asyncio.gather(stream(http, b, answer_id), stream(http, c, answer_id))
    assert fields(on_b) == fields(on_c)
    assert text_of(on_b) == "".join(answer_tokens(PROMPT))
    done = json.loads(on_b[-1].data)
    assert (on_b[-1].event, done["finish_reason"]) == ("done", "stop")
    assert done["usage"]["completion_tokens"] == len(on_b) - 1  # stored by A, read on B
    assert [e.id for e in on_b] == [str(n) for n in range(1, len(on_b) + 1)]


async def test_a_stop_sent_to_another_worker_stops_the_generation(workers, model, http) -> None:
    a, b, c = workers
    answer_id = await ask(http, a, LONG_PROMPT)
    readers = [asyncio.create_task(stream(http, w, answer_id)) for w in (b, c)]
    await first_delta(http, b, answer_id)
    assert model.open_model_streams() == 1  # A is generating
    async with http.delete(f"{c.url}/sse/{answer_id}") as response:
        assert response.status == 200
        assert await response.json() == {"id": answer_id, "finish_reason": "stopped"}
    on_b, on_c = await asyncio.wait_for(asyncio.gather(*readers), 20)
    for events in (on_b, on_c):
        assert (events[-1].event, json.loads(events[-1].data)) == (
            "done",
            {"finish_reason": "stopped", "usage": None},
        )
    assert fields(on_b) == fields(on_c)
    assert 0 < len(on_b) - 1 < len(answer_tokens(LONG_PROMPT))
    assert await until(lambda: model.open_model_streams() == 0)  # A closed the model's stream
    async with http.delete(f"{b.url}/sse/{answer_id}") as response:
        assert response.status == 409  # already ended, whichever worker is asked


async def test_a_worker_killed_mid_answer_ends_it_with_an_error_on_the_others(
    workers, model, redis_server, http, tmp_path: Path
) -> None:
    _, b, c = workers
    doomed = serve(redis_server.url, tmp_path / "doomed.log", model=f"{model.url}/v1")
    try:
        answer_id = await ask(http, doomed, LONG_PROMPT)
        readers = [asyncio.create_task(stream(http, w, answer_id)) for w in (b, c)]
        await first_delta(http, b, answer_id)
        doomed.process.kill()  # SIGKILL: no goodbye, its lease just lapses
        on_b, on_c = await asyncio.wait_for(asyncio.gather(*readers), 30)
    finally:
        doomed.stop()
    for events in (on_b, on_c):
        assert (events[-1].event, json.loads(events[-1].data)) == (
            "error",
            {"message": WORKER_LOST},
        )
        assert text_of(events) and "".join(answer_tokens(LONG_PROMPT)).startswith(text_of(events))
    assert fields(on_b) == fields(on_c)
    assert fields(await stream(http, c, answer_id)) == fields(on_c)  # and so it stays


async def test_a_reader_reconnecting_to_another_worker_at_every_event_gets_each_once(
    workers, http
) -> None:
    answer_id = await ask(http, workers[0])
    got: list[ServerSentEvent] = []
    for turn in range(1000):  # one event per connection, each on the next worker
        headers = {"Last-Event-ID": got[-1].id} if got else {}
        worker = workers[turn % 3]
        async with http.get(f"{worker.url}/sse/{answer_id}", headers=headers) as response:
            if response.status == 204:
                break
            parser = EventStreamParser()
            async for chunk in response.content.iter_any():
                if events := parser.feed(chunk):
                    got.append(events[0])
                    break
    whole = await stream(http, workers[1], answer_id)
    assert fields(got) == fields(whole)
    assert whole[-1].event == "done" and text_of(whole) == "".join(answer_tokens(PROMPT))


async def test_serve_workers_2_runs_two_processes_on_one_port(redis_server, tmp_path) -> None:
    pair = serve(redis_server.url, tmp_path / "pair.log", "--workers", "2")
    try:
        assert pair.process.stdout is not None
        lines = [pair.process.stdout.readline() for _ in range(2)]
        assert f"alice: Authorization: Bearer {TOKEN}" in lines[0]  # the tokens, once
        assert "Ctrl-C" in lines[1]
        async with aiohttp.ClientSession(headers=AUTH) as http:
            one = Worker(pair.url, pair.process)
            answer_id = await ask(http, one)
            answers = await asyncio.gather(*(stream(http, one, answer_id) for _ in range(6)))
        assert all(fields(events) == fields(answers[0]) for events in answers)
        assert answers[0][-1].event == "done"
        children = subprocess.run(
            ["pgrep", "-P", str(pair.process.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) >= 2  # two workers (and multiprocessing's resource tracker)
        pair.process.send_signal(signal.SIGINT)
        assert pair.process.wait(30) == 0
        assert await until(lambda: not any(alive(pid) for pid in children), seconds=30)
    finally:
        pair.stop()


def worker_pids(command: subprocess.Popen[str]) -> set[str]:
    """The worker processes of a `serve --workers N` command (not multiprocessing's helpers)."""
    children = subprocess.run(["pgrep", "-P", str(command.pid)], capture_output=True, text=True)
    return {pid for pid in children.stdout.split() if "sse_lab" in cmdline(pid)}


def cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return ""


def logged(log: Path, text: str) -> Callable[[], bool]:
    """Whether the log says `text` yet, as a condition for `until`."""
    return lambda: text in log.read_text()


def port_is_free(port: int) -> bool:
    """Whether a new server could listen on the port (as `serve --port` would)."""
    try:
        with socket.create_server(("127.0.0.1", port)):
            return True
    except OSError:
        return False


async def test_kill_9_of_the_command_ends_its_workers_and_frees_the_port(
    redis_server, tmp_path
) -> None:
    pair = serve(redis_server.url, tmp_path / "pair.log", "--workers", "2")
    workers = worker_pids(pair.process)
    try:
        assert len(workers) == 2
        pair.process.kill()  # SIGKILL: the command cannot tell its workers anything
        pair.process.wait(10)
        assert await until(lambda: not any(alive(pid) for pid in workers), seconds=15)
        assert port_is_free(int(pair.url.rsplit(":", 1)[1]))
    finally:
        pair.stop()
        for pid in workers:  # left running by a command that failed to end them
            if alive(pid):
                os.kill(int(pid), signal.SIGKILL)


async def test_a_worker_that_dies_is_replaced_until_too_many_die(redis_server, tmp_path) -> None:
    log = tmp_path / "pair.log"
    pair = serve(redis_server.url, log, "--workers", "2")
    seen = set(worker_pids(pair.process))
    try:
        for _ in range(2):  # two workers: two replacements a minute
            doomed = sorted(worker_pids(pair.process))[0]
            os.kill(int(doomed), signal.SIGKILL)
            said = f"worker {doomed} was killed by SIGKILL; worker "
            assert await until(logged(log, said), seconds=20), log.read_text()
            now = worker_pids(pair.process)
            assert len(now) == 2 and doomed not in now
            seen |= now
            async with aiohttp.ClientSession() as http:
                for _ in range(4):  # the kernel spreads these over both workers
                    async with http.get(f"{pair.url}/v1/models") as response:
                        assert response.status == 200
        doomed = sorted(worker_pids(pair.process))[0]
        os.kill(int(doomed), signal.SIGKILL)  # a third within the minute: the command ends
        assert pair.process.wait(30) != 0
        last = log.read_text().splitlines()[-1]
        assert last == (
            f"sse_lab: worker {doomed} was killed by SIGKILL, and 2 more ended within the "
            "last minute: the command stops"
        )
        assert await until(lambda: not any(alive(pid) for pid in seen), seconds=30)
    finally:
        pair.stop()
        for pid in seen:
            if alive(pid):
                os.kill(int(pid), signal.SIGKILL)


def alive(pid: str) -> bool:
    """Whether the process runs (a zombie nobody reaped yet has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


async def test_redis_stopped_and_started_again_mid_run(tmp_path: Path) -> None:
    with start_redis() as redis:
        a, b = (serve(redis.url, tmp_path / f"{name}.log") for name in "ab")
        try:
            async with aiohttp.ClientSession(headers=AUTH) as http:
                answer_id = await ask(http, a, LONG_PROMPT)
                reader = asyncio.create_task(stream(http, b, answer_id))
                await first_delta(http, b, answer_id)
                redis.pause()
                events = await asyncio.wait_for(reader, 20)
                assert events[-1].event == "error"
                assert json.loads(events[-1].data) == {"message": STORE_LOST}
                async with http.post(f"{a.url}/new", json={"prompt": "hi"}) as response:
                    assert response.status == 503
                    assert "answer store is unavailable" in (await response.json())["error"]
                async with http.get(f"{a.url}/v1/models") as response:
                    assert response.status == 200  # what needs no store goes on serving

                redis.resume()
                again = await until_created(http, a)
                after = await stream(http, b, again)
                assert after[-1].event == "done"
                assert text_of(after) == "".join(answer_tokens("hi"))
                kept = await stream(http, b, answer_id)  # what Redis acknowledged is there
                assert text_of(kept).startswith(text_of(events))
                if kept[-1].event == "done":  # a write in flight at the stop, retried after it
                    assert text_of(kept) == "".join(answer_tokens(LONG_PROMPT))
                else:  # the generating worker's writes failed: the answer ended there
                    assert kept[-1].event == "error"
        finally:
            a.stop()
            b.stop()


async def until_created(http: aiohttp.ClientSession, worker: Worker) -> str:
    """POST /new until the store answers again (bounded): the id."""
    for _ in range(150):
        async with http.post(f"{worker.url}/new", json={"prompt": "hi"}) as response:
            if response.status == 201:
                return str((await response.json())["id"])
            assert response.status == 503
        await asyncio.sleep(0.1)
    pytest.fail("the server did not serve again within 15 s of Redis's return")


def test_an_unreachable_redis_at_start_is_one_line_naming_it(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    command = [sys.executable, "-m", "sse_lab", "serve", "--port", "0", "--store", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"cannot reach the answer store at {url}" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("store", ["redis:/nohost", "http://127.0.0.1:6379/0", "redis://h/a"])
def test_a_malformed_store_is_a_usage_error_naming_the_accepted_forms(store: str) -> None:
    command = [sys.executable, "-m", "sse_lab", "serve", "--store", store]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "usage:" in done.stderr and "redis://HOST[:PORT][/DB]" in done.stderr
    assert "Traceback" not in done.stderr
    environment = {**os.environ, "SSE_LAB_STORE": store}
    done = subprocess.run(command[:-2], capture_output=True, text=True, timeout=60, env=environment)
    assert done.returncode == 2 and "redis://HOST[:PORT][/DB]" in done.stderr


async def test_start_server_takes_a_redis_store(redis_server: RedisServer) -> None:
    with start_server(token_delay=0, store=redis_server.url) as lab:
        async with aiohttp.ClientSession(headers=lab.auth_header()) as http:
            async with http.post(f"{lab.url}/new", json={"prompt": PROMPT}) as response:
                answer_id = (await response.json())["id"]
            async with http.get(f"{lab.url}/sse/{answer_id}") as response:
                events = await read_events(response)
    assert text_of(events) == "".join(answer_tokens(PROMPT))
    assert events[-1].event == "done"


@contextlib.contextmanager
def stalled(pid: int) -> Iterator[None]:
    """The process stopped (SIGSTOP) for the block, then continued: it takes and answers
    nothing meanwhile, as a Redis stuck in a slow command, or a paused virtual machine."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def numbered(events: list[ServerSentEvent]) -> bool:
    """Whether the events' ids are 1, 2, 3, ...: deltas with no gap, then the end."""
    return [e.id for e in events] == [str(n) for n in range(1, len(events) + 1)]


async def test_a_redis_stall_of_12_s_stores_no_answer_with_a_hole(tmp_path: Path) -> None:
    with start_redis() as redis:
        a, b = (serve(redis.url, tmp_path / f"{name}.log") for name in "ab")
        try:
            async with aiohttp.ClientSession(headers=AUTH) as http:
                ids = [await ask(http, worker, LONG_PROMPT) for worker in (a, b, a, b)]
                await first_delta(http, b, ids[-1])
                assert redis.pid is not None
                with stalled(redis.pid):  # the workers' writes time out, or wait
                    await asyncio.sleep(12)
                for answer_id in ids:
                    whole = await asyncio.wait_for(stream(http, a, answer_id), 30)
                    assert numbered(whole), fields(whole)
                    assert whole[-1].event in ("done", "error")
                    if whole[-1].event == "done":
                        assert text_of(whole) == "".join(answer_tokens(LONG_PROMPT))
                    half = len(whole) // 2  # resuming anywhere gets exactly the rest
                    # (an answer ended before its first delta resumes from its start)
                    headers = {"Last-Event-ID": whole[half - 1].id} if half else {}
                    async with http.get(f"{b.url}/sse/{answer_id}", headers=headers) as response:
                        assert fields(await read_events(response)) == fields(whole[half:])
        finally:
            a.stop()
            b.stop()


async def test_a_reader_told_of_a_lost_store_resumes_with_nothing_skipped(tmp_path: Path) -> None:
    with start_redis() as redis:
        slow = ("--token-delay", "0.1")  # the answer runs 10 s: on, after the fault
        a, b = (serve(redis.url, tmp_path / f"{name}.log", *slow) for name in "ab")
        try:
            async with aiohttp.ClientSession(headers=AUTH) as http:
                answer_id = await ask(http, a, LONG_PROMPT)
                parser = EventStreamParser()
                got: list[ServerSentEvent] = []
                async with http.get(f"{b.url}/sse/{answer_id}") as response:
                    async for chunk in response.content.iter_any():
                        if got := parser.feed(chunk):
                            break
                    # Redis drops every connection (a proxy's idle timeout, CLIENT KILL): B's
                    # tailing fails, while A's next write reconnects and the answer goes on.
                    async with aioredis.Redis.from_url(redis.url) as raw:
                        await raw.execute_command("CLIENT KILL TYPE normal")
                        await raw.execute_command("CLIENT KILL TYPE pubsub")
                    async for chunk in response.content.iter_any():  # the same parser
                        got += parser.feed(chunk)
                assert got[-1].event == "error"
                assert json.loads(got[-1].data) == {"message": STORE_LOST}
                # A browser reconnects with the last id it saw: that error had none.
                headers = {"Last-Event-ID": got[-1].id}
                async with http.get(f"{b.url}/sse/{answer_id}", headers=headers) as response:
                    rest = await read_events(response)
        finally:
            a.stop()
            b.stop()
    assert [e.event for e in rest[-1:]] == ["done"], fields(got + rest)
    deltas = [e for e in got + rest if e.event == "message"]
    assert numbered(deltas), fields(deltas)
    assert text_of(deltas) == "".join(answer_tokens(LONG_PROMPT))


async def test_post_new_during_a_redis_stall_answers_503_within_3_s(tmp_path: Path) -> None:
    with start_redis() as redis:
        worker = serve(redis.url, tmp_path / "worker.log")
        try:
            async with aiohttp.ClientSession(headers=AUTH) as http:
                await ask(http, worker)
                assert redis.pid is not None
                with stalled(redis.pid):
                    started = time.monotonic()
                    async with http.post(f"{worker.url}/new", json={"prompt": "hi"}) as response:
                        status = response.status
                    took = time.monotonic() - started
                assert await until_created(http, worker)  # and serves again at once after
        finally:
            worker.stop()
    assert (status, took < 3) == (503, True), took


async def test_the_redis_password_reaches_no_client_and_no_log(tmp_path: Path) -> None:
    password = "pw-SECRET-4711"
    shown: list[str] = []  # every text a client or an operator gets
    with start_redis() as redis:
        async with aioredis.Redis.from_url(redis.url) as raw:
            await raw.config_set("requirepass", password)
        url = f"redis://:{password}@127.0.0.1:{redis.port}/0"
        worker = serve(url, tmp_path / "worker.log", "--token-delay", "0.1")
        shown.append(worker.banner)
        try:
            async with aiohttp.ClientSession(headers=AUTH) as http:
                answer_id = await ask(http, worker, LONG_PROMPT)
                reader = asyncio.create_task(stream(http, worker, answer_id))
                await first_delta(http, worker, answer_id)
                assert redis.pid is not None
                with stalled(redis.pid):
                    for method, path in (("POST", "/new"), ("GET", f"/sse/{answer_id}")):
                        body = {"prompt": "hi"} if method == "POST" else None
                        async with http.request(method, worker.url + path, json=body) as response:
                            assert response.status == 503
                            shown.append(await response.text())
                    told = await asyncio.wait_for(reader, 20)
                stored = await asyncio.wait_for(stream(http, worker, answer_id), 30)
            shown += [event.data for event in told + stored]
            assert stored[-1].event == "error"
            assert "redis://:***@127.0.0.1" in stored[-1].data  # the store, named with no password
            worker.process.send_signal(signal.SIGINT)
            worker.process.wait(20)
            assert worker.process.stdout is not None
            shown.append(worker.process.stdout.read())
        finally:
            worker.stop()
    shown.append((tmp_path / "worker.log").read_text())
    assert "redis://:***@127.0.0.1" in shown[0]
    assert [text for text in shown if password in text] == []

"""How many answer events per second does `GET /sse/{id}` write on one connection?

Side by side in one run, each server in a process of its own, read in turn by one client:
- bare: a bare aiohttp handler writing the very same bytes, one `response.write()` per event;
- replay: `GET /sse/{id}` of finished answers, read back from SQLite;
- live: `POST /new` then `GET /sse/{id}` while the built-in model (pace 0) writes the answer.
Every mode reads the same long answers; the goal: ours >= 0.8x bare. With --redis, replay and
live also on the Redis store (a redis-server of its own), in the same rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import cycle, islice
from pathlib import Path

import aiohttp
from _common import (
    AUTH,
    LONG_PROMPTS,
    ServerProcess,
    answer_events,
    bare_runner,
    client_session,
    cpu_seconds,
    lab_runner,
    machine_note,
    median,
    new_answer,
    open_stream,
    print_table,
    read_chunks,
)
from aiohttp import web

from sse_lab.model import answer_tokens
from sse_lab.services.redis import start_redis

Reader = Callable[[int], Awaitable[bytes]]  # answer number -> the stream's body


def bare_answers(url: str, prompts: list[str]) -> web.AppRunner:
    """`GET /bare/{n}` streams answer n's events as the lab does: same bytes, encoded and
    written one by one."""
    routes = web.RouteTableDef()
    answers = [answer_tokens(prompt) for prompt in prompts]

    @routes.get("/bare/{n}")
    async def stream(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        for event in answer_events(answers[int(request.match_info["n"])]):
            await response.write(event)
        return response

    return bare_runner(routes)


@dataclass
class Mode:
    """One way to read the answers: its server process, how to read answer n, and its
    totals by round: events, client wall time, server CPU and client CPU."""

    server: ServerProcess
    read: Reader
    store_pid: int = 0  # a redis-server this mode's reads use, whose CPU is counted too
    store_cpu: float = 0.0
    events: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)

    def start_round(self) -> None:
        self.events.append(0)
        self.seconds.append(0.0)
        self.client_cpu.append(0.0)
        self.server_cpu.append(-self.server.cpu_seconds())

    def end_round(self) -> None:
        self.server_cpu[-1] += self.server.cpu_seconds()

    async def timed_read(self, n: int) -> bytes:
        """Read answer n, adding its events, wall time and client CPU to this round."""
        start, cpu = time.monotonic(), time.process_time()
        store_cpu = cpu_seconds(self.store_pid) if self.store_pid else 0.0
        body = await self.read(n)
        self.seconds[-1] += time.monotonic() - start
        self.client_cpu[-1] += time.process_time() - cpu
        if self.store_pid:
            self.store_cpu += cpu_seconds(self.store_pid) - store_cpu
        self.events[-1] += body.count(b"\n\n")
        return body

    def forget(self) -> None:
        """Drop the rounds so far (the warm-up)."""
        for totals in (self.events, self.seconds, self.server_cpu, self.client_cpu):
            totals.clear()
        self.store_cpu = 0.0

    def rate(self) -> float:
        """The median round's events per second."""
        return median([e / s for e, s in zip(self.events, self.seconds, strict=True)])

    def cpu_per_event(self) -> float:
        """Server CPU seconds per event, over all rounds."""
        return sum(self.server_cpu) / sum(self.events)

    def row(self, name: str, bare: Mode) -> list[object]:
        wall = sum(self.seconds)
        return [
            name,
            sum(self.events),
            f"{self.rate():,.0f}",
            f"{self.rate() / bare.rate():.2f}x",
            f"{self.cpu_per_event() * 1e6:.1f}",
            f"{bare.cpu_per_event() / self.cpu_per_event():.2f}x",
            f"{sum(self.server_cpu) / wall:.0%}",
            f"{sum(self.client_cpu) / wall:.0%}",
        ]


async def run(rounds: int, answers: int, redis: bool) -> dict[str, Mode]:
    prompts = list(islice(cycle(LONG_PROMPTS), answers))
    expected = [b"".join(answer_events(answer_tokens(p))) for p in prompts]
    with (
        tempfile.TemporaryDirectory(prefix="sse-bench-") as scratch,
        contextlib.ExitStack() as stack,
    ):

        def server(factory: Callable[..., web.AppRunner], *args: object) -> ServerProcess:
            return stack.enter_context(ServerProcess(factory, *args))

        # Two lab servers on one store: one generates, the other replays what is stored.
        sqlite = {"token_delay": 0.0, "db_path": str(Path(scratch, "answers.db"))}
        servers = {"": (server(lab_runner, sqlite), server(lab_runner, sqlite))}
        bare = server(bare_answers, prompts)
        if redis:
            store = stack.enter_context(start_redis())
            shared = {"token_delay": 0.0, "store": store.url}
            servers[" redis"] = (server(lab_runner, shared), server(lab_runner, shared))
        async with client_session(connections=1) as session:
            modes = pair(session, "", *servers[""], prompts)
            modes["bare"] = Mode(bare, bare_reader(session, bare))
            if redis:
                for name, mode in pair(session, " redis", *servers[" redis"], prompts).items():
                    mode.store_pid = store.pid or 0
                    modes[name] = mode
            return await read_rounds(modes, prompts, expected, rounds)


async def get(session: aiohttp.ClientSession, url: str) -> bytes:
    async with session.get(url, headers=AUTH) as response:
        response.raise_for_status()
        return b"".join(chunk for _, chunk in await read_chunks(response))


def pair(
    session: aiohttp.ClientSession,
    store: str,
    live_server: ServerProcess,
    replay_server: ServerProcess,
    prompts: list[str],
) -> dict[str, Mode]:
    """The live and replay modes on one store, in this order: replay reads the answer live
    has just written."""
    ids = [""] * len(prompts)

    async def live(n: int) -> bytes:
        ids[n] = await new_answer(session, live_server.url, prompts[n])
        return await get(session, f"{live_server.url}/sse/{ids[n]}")

    async def replay(n: int) -> bytes:
        return await get(session, f"{replay_server.url}/sse/{ids[n]}")

    return {f"live{store}": Mode(live_server, live), f"replay{store}": Mode(replay_server, replay)}


def bare_reader(session: aiohttp.ClientSession, bare_server: ServerProcess) -> Reader:
    async def bare(n: int) -> bytes:
        return await get(session, f"{bare_server.url}/bare/{n}")

    return bare


async def read_rounds(
    modes: dict[str, Mode], prompts: list[str], expected: list[bytes], rounds: int
) -> dict[str, Mode]:
    """Each round reads every answer every way in turn, so that a busy moment of the
    machine hits all alike."""
    for round_ in range(rounds + 1):  # round 0 warms up and is not counted
        for mode in modes.values():
            mode.start_round()
        for n in range(len(prompts)):
            for name, mode in modes.items():
                if await mode.timed_read(n) != expected[n]:
                    raise AssertionError(f"{name}: answer {n} differs from the expected bytes")
        for mode in modes.values():
            mode.end_round()
            if round_ == 0:
                mode.forget()
    return modes


def report(modes: dict[str, Mode], rounds: int, answers: int) -> None:
    bare = modes["bare"]
    runs = f"{answers} answers x {rounds} rounds (+1 warm-up round)"
    print(f"one client connection per server, {runs}; {machine_note()}\n")
    columns = [
        ("mode", 33),
        ("events", 8),
        ("events/s", 10),
        ("vs bare", 9),
        ("srv µs/ev", 11),
        ("vs bare", 9),
        ("srv CPU", 9),
        ("cli CPU", 9),
    ]
    rows = [
        bare.row("bare aiohttp handler", bare),
        modes["replay"].row("GET /sse/{id} replay (SQLite)", bare),
        modes["live"].row("POST /new + GET /sse/{id} live", bare),
    ]
    if "live redis" in modes:
        rows.append(modes["replay redis"].row("GET /sse/{id} replay (Redis)", bare))
        rows.append(modes["live redis"].row("POST /new + GET /sse/{id} live (Redis)", bare))
    print_table(columns, rows)
    print()
    for name in [n for n in modes if n != "bare"]:
        mode = modes[name]
        print(
            f"{name} vs bare: {mode.rate() / bare.rate():.2f}x by events/s, "
            f"{bare.cpu_per_event() / mode.cpu_per_event():.2f}x by server CPU (goal: >= 0.80x)"
        )
    for store in ("replay", "live"):
        if (redis := modes.get(f"{store} redis")) is not None:
            own = redis.store_cpu / sum(redis.events)
            print(
                f"{store}: Redis against SQLite, server µs/event "
                f"{redis.cpu_per_event() * 1e6:.1f} / {modes[store].cpu_per_event() * 1e6:.1f}"
                f" = {redis.cpu_per_event() / modes[store].cpu_per_event():.2f}x;"
                f" redis-server itself {own * 1e6:.1f} µs/event"
            )
    print(NOTES)


NOTES = """
events: answer events (deltas and `done`) over all rounds; every read carries the same
  bytes (checked against the expected stream); one keep-alive client connection per server.
events/s: median over rounds of events / client wall time, each request timed from its
  start to its last byte (live: from POST /new); then its ratio to bare.
srv µs/ev: server process CPU (user + sys, /proc/<pid>/stat) per event; then bare's divided
  by this one: the ratio without the client's speed in it.
srv / cli CPU: share of one core the server / the client used while reading (near 100%:
  that side limits the rate).
arrangement: three servers, each in its own spawned process: the lab generating (live),
  a second lab process on the same SQLite file (replay), the bare app; lab = create_app +
  runner_for, as `python -m sse_lab serve` without log output; bare = aiohttp AppRunner
  defaults. The client (aiohttp) in this process reads answer n live, then replayed, then
  bare, for each n in turn; 2 cores, 127.0.0.1."""


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--quick", action="store_true", help="a short run: 1 round of 12 answers")
    cli.add_argument("--rounds", type=int, default=5)
    cli.add_argument("--answers", type=int, default=60, help="answers per round (~200 events each)")
    cli.add_argument(
        "--redis", action="store_true", help="replay and live on a Redis store too (redis-server)"
    )
    args = cli.parse_args()
    rounds, answers = (1, 12) if args.quick else (max(1, args.rounds), max(1, args.answers))
    modes = asyncio.run(asyncio.wait_for(run(rounds, answers, args.redis), timeout=900))
    report(modes, rounds, answers)


if __name__ == "__main__":
    main()

"""The chat job on the lab server beside the same job built the usual way on other stacks.

Contestants, each a server in a process of its own (benchmarks/peers/ holds the peers):
- lab: `POST /new` stores the prompt and starts the answer; `GET /sse/{id}` streams it from
  the store (as `python -m sse_lab serve`, SQLite file, without log output);
- aiohttp-sse, sse-starlette (on uvicorn: asyncio loop, h11), bare aiohttp (StreamResponse,
  one write per delta): `POST /new` keeps the prompt in memory, `GET /sse/{id}` asks the
  model with the openai SDK and relays each delta. No store, no resume, no shared answers.
Every contestant streams from the same model: a lab server process of its own, whose /v1
they call over HTTP (openai SDK) at the row's pace, started fresh for each round. In every
round each contestant gets a fresh server, in an order that rotates from round to round;
the tables give medians over rounds and, for each peer, the per-round ratios lab / peer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    AUTH,
    LONG_PROMPTS,
    Measured,
    PeerProcess,
    ServerProcess,
    client_session,
    lab_runner,
    median,
    new_answer,
    percentile,
    print_table,
    raise_fd_limit,
    read_chunks,
    timed_events,
)
from first_delta import first_delta
from many_readers import PACE, Outcome, read_row

PEER_SCRIPTS = {
    "aiohttp-sse": "aiohttp_sse_server.py",
    "sse-starlette": "starlette_sse_server.py",
    "bare aiohttp": "bare_aiohttp_server.py",
}
CONTESTANTS = ("lab", *PEER_SCRIPTS)
LIMIT = 20.0  # seconds of reading a row, for each contestant
# The model's own server, as a remote provider would be: it waits a minute for a request's
# head, where the lab's guard gives a client 10 s, so that a loaded peer's late request
# is still served instead of refused.
MODEL: dict[str, Any] = {"head_timeout": 60.0}
NAN = float("nan")  # a figure with nothing to measure: no delta arrived in the row
RESULTS = Path(__file__).with_name("peers-results.json")
FIGURE = Path(__file__).with_name("peers.png")


def contestant(name: str, model: ServerProcess, pace: float) -> ServerProcess | PeerProcess:
    """A fresh server for `name`, its answers from `model`'s /v1."""
    if name == "lab":
        return ServerProcess(lab_runner, {"token_delay": pace, "db_path": "bench.db"}, model.url)
    return PeerProcess(PEER_SCRIPTS[name], f"{model.url}/v1")


def rotated(round_: int) -> list[str]:
    """The contestants in this round's order: each goes first in turn."""
    shift = round_ % len(CONTESTANTS)
    return [*CONTESTANTS[shift:], *CONTESTANTS[:shift]]


def load() -> float:
    """The machine's 1-minute load average now: other work skews every figure."""
    return os.getloadavg()[0]


@dataclass
class ReadersResult:
    """One contestant's figures for one round of a readers row."""

    readers: int
    done: int
    paced_p50: float  # ms
    paced_p99: float  # ms
    us_per_delta: float
    kib_per_stream: float
    server_cpu: float  # share of one core over the row's wall time
    model_cpu: float
    reader_cpu: float  # both reader processes together
    load: float

    @classmethod
    def of(cls, outcome: Outcome, load_before: float) -> ReadersResult:
        found = outcome.latenesses(PACE)
        delivered = sum(len(r.deltas) for r in outcome.readings)
        paced = found.paced or [NAN]  # no delta arrived
        return cls(
            readers=outcome.readers,
            done=sum(r.done for r in outcome.readings),
            paced_p50=percentile(paced, 0.5) * 1000,
            paced_p99=percentile(paced, 0.99) * 1000,
            us_per_delta=outcome.server_cpu / delivered * 1e6 if delivered else NAN,
            kib_per_stream=(outcome.peak_kib - outcome.idle_kib) / outcome.readers,
            server_cpu=outcome.server_cpu / outcome.seconds,
            model_cpu=(outcome.model_cpu or 0.0) / outcome.seconds,
            reader_cpu=outcome.client_cpu / outcome.seconds,
            load=load_before,
        )


def readers_rounds(
    answers: int, per_answer: int, rounds: int, limit: float
) -> dict[str, list[ReadersResult]]:
    """`rounds` rounds of `answers` x `per_answer` readers on the lab, and as many readers
    on each peer, each reader with its own answer (peers share none)."""
    results: dict[str, list[ReadersResult]] = {name: [] for name in CONTESTANTS}
    for round_ in range(rounds):
        with ServerProcess(lab_runner, MODEL | {"token_delay": PACE}) as model:
            for name in rotated(round_):
                shape = (answers, per_answer) if name == "lab" else (answers * per_answer, 1)
                before = load()
                with contestant(name, model, PACE) as server:
                    outcome = read_row([server], model, *shape, limit)
                results[name].append(ReadersResult.of(outcome, before))
                print(f"  round {round_ + 1} {name}: {summary(results[name][-1])}", flush=True)
    return results


def summary(r: ReadersResult) -> str:
    return (
        f"{r.done}/{r.readers} done, paced p99 {r.paced_p99:.0f} ms, {r.us_per_delta:.0f} µs"
        f"/delta, {r.kib_per_stream:.0f} KiB/stream, CPU srv {r.server_cpu:.0%} model"
        f" {r.model_cpu:.0%} readers {r.reader_cpu:.0%}, load {r.load:.2f}"
    )


@dataclass
class QuickResult:
    """One contestant's figures for one round of rows 3 and 4 (pace 0)."""

    first_delta_ms: list[float] = field(default_factory=list)  # POST /new -> first delta
    deltas_per_s: list[float] = field(default_factory=list)  # one stream each
    server_cpu: float = 0.0  # shares of one core over row 4's streams
    model_cpu: float = 0.0
    reader_cpu: float = 0.0
    load: float = 0.0


async def stream_rate(
    session: aiohttp.ClientSession, server: Measured, model: Measured, prompt: str
) -> tuple[float, float, float, float, float]:
    """One answer, POST /new to its last byte: deltas per second, its wall time and the CPU
    seconds that server, model and this client spent on it."""
    cpu = (server.cpu_seconds(), model.cpu_seconds(), time.process_time())
    start = time.monotonic()
    answer = await new_answer(session, server.url, prompt)
    async with session.get(f"{server.url}/sse/{answer}", headers=AUTH) as response:
        response.raise_for_status()
        chunks = await read_chunks(response)
    seconds = time.monotonic() - start
    events = timed_events(chunks)
    deltas = sum(1 for _, event in events if event.event == "message")
    if not deltas or events[-1][1].event != "done":
        raise AssertionError(f"{server.url}: {deltas} deltas and no done")
    used = (server.cpu_seconds(), model.cpu_seconds(), time.process_time())
    server_cpu, model_cpu, reader_cpu = (b - a for a, b in zip(cpu, used, strict=True))
    return deltas / seconds, seconds, server_cpu, model_cpu, reader_cpu


async def quick_round(
    servers: dict[str, Measured], model: Measured, runs: int, streams: int, round_: int
) -> dict[str, QuickResult]:
    """Row 3: `runs` POST -> first delta on each server, alternating run by run in this
    round's order (after 10 warm-up runs each); row 4: `streams` answers read whole on each,
    alternating likewise."""
    order = rotated(round_)
    results = {name: QuickResult(load=load()) for name in order}
    prompts = itertools.cycle(LONG_PROMPTS)
    async with contextlib.AsyncExitStack() as stack:
        sessions = {
            name: await stack.enter_async_context(client_session(connections=1)) for name in order
        }
        for n in range(10 + runs):
            for name in order:
                timing = await asyncio.wait_for(
                    first_delta(sessions[name], servers[name].url, next(prompts)), 30
                )
                if n >= 10:
                    results[name].first_delta_ms.append(timing[1] * 1000)
        wall = dict.fromkeys(order, 0.0)
        for _ in range(streams):
            for name in order:
                rate, seconds, server_cpu, model_cpu, reader_cpu = await asyncio.wait_for(
                    stream_rate(sessions[name], servers[name], model, next(prompts)), 60
                )
                result = results[name]
                result.deltas_per_s.append(rate)
                wall[name] += seconds
                result.server_cpu += server_cpu
                result.model_cpu += model_cpu
                result.reader_cpu += reader_cpu
        for name in order:
            for attribute in ("server_cpu", "model_cpu", "reader_cpu"):
                setattr(results[name], attribute, getattr(results[name], attribute) / wall[name])
    return results


def quick_rounds(rounds: int, runs: int, streams: int) -> dict[str, list[QuickResult]]:
    """Rows 3 and 4 over `rounds` rounds, each with a fresh model (pace 0) and servers."""
    results: dict[str, list[QuickResult]] = {name: [] for name in CONTESTANTS}
    for round_ in range(rounds):
        with contextlib.ExitStack() as stack:
            model = stack.enter_context(ServerProcess(lab_runner, MODEL | {"token_delay": 0.0}))
            servers: dict[str, Measured] = {
                name: stack.enter_context(contestant(name, model, 0.0)) for name in CONTESTANTS
            }
            found = asyncio.run(quick_round(servers, model, runs, streams, round_))
        for name, result in found.items():
            results[name].append(result)
            print(
                f"  round {round_ + 1} {name}: first delta p50"
                f" {median(result.first_delta_ms):.2f} ms, {median(result.deltas_per_s):,.0f}"
                f" deltas/s, load {result.load:.2f}",
                flush=True,
            )
    return results


# The table: per row, each contestant's median over rounds, and lab / peer per round.

Metric = tuple[str, str]  # (a figure of ReadersResult or QuickResult, its title)
READERS_METRICS: list[Metric] = [
    ("paced_p99", "paced p99 ms"),
    ("us_per_delta", "µs CPU/delta"),
    ("kib_per_stream", "KiB/stream"),
]
QUICK_METRICS: list[Metric] = [
    ("first_delta_ms", "first delta ms"),
    ("deltas_per_s", "deltas/s"),
]


def figure_of(result: ReadersResult | QuickResult, metric: str) -> float:
    """A round's figure: for rows 3 and 4, the median of the round's runs."""
    value = getattr(result, metric)
    return float(median(value)) if isinstance(value, list) else float(value)


def ratios(
    results: dict[str, Sequence[ReadersResult | QuickResult]], metric: str
) -> dict[str, list[float]]:
    """For each peer, the per-round ratios lab / peer of `metric`; and lab / best peer of
    each round ('best': the lowest figure, or for deltas/s the highest)."""
    lab = [figure_of(r, metric) for r in results["lab"]]
    peers = {name: [figure_of(r, metric) for r in results[name]] for name in PEER_SCRIPTS}
    pick = max if metric == "deltas_per_s" else min
    rounds = zip(*peers.values(), strict=True)
    peers["best peer"] = [pick((f for f in fs if f == f), default=NAN) for fs in rounds]
    return {
        name: [a / b if b else NAN for a, b in zip(lab, peer, strict=True)]
        for name, peer in peers.items()
    }


def spread(values: Sequence[float], digits: int = 2) -> str:
    """median [min-max] of the rounds that have the figure."""
    values = [v for v in values if v == v]  # not NaN
    if not values:
        return "-"
    return f"{median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def print_readers(title: str, results: dict[str, list[ReadersResult]]) -> None:
    print(f"\n{title}")
    columns = [
        ("contestant", 15),
        ("done", 12),
        ("paced p50", 10),
        ("p99 ms", 8),
        ("µs/delta", 9),
        ("KiB/stream", 11),
        ("srv CPU", 8),
        ("model CPU", 10),
        ("readers CPU", 12),
        ("load", 6),
    ]

    def middle(values: list[float], form: str) -> str:
        values = [v for v in values if v == v]  # not NaN
        return format(median(values), form) if values else "-"

    rows = []
    for name, found in results.items():
        rows.append(
            [
                name,
                f"{sum(r.done for r in found)}/{sum(r.readers for r in found)}",
                middle([r.paced_p50 for r in found], ".0f"),
                middle([r.paced_p99 for r in found], ".0f"),
                middle([r.us_per_delta for r in found], ".0f"),
                f"{median([r.kib_per_stream for r in found]):.0f}",
                f"{median([r.server_cpu for r in found]):.0%}",
                f"{median([r.model_cpu for r in found]):.0%}",
                f"{median([r.reader_cpu for r in found]):.0%}",
                f"{median([r.load for r in found]):.1f}",
            ]
        )
    print_table(columns, rows)
    print_ratios(results, READERS_METRICS)


def print_ratios(results: dict[str, list], metrics: list[Metric]) -> None:
    columns = [("lab / peer, per round", 24)] + [(title, 24) for _, title in metrics]
    by_metric = [ratios(results, metric) for metric, _ in metrics]
    names = [*PEER_SCRIPTS, "best peer"]
    print_table(columns, [[name, *(spread(r[name]) for r in by_metric)] for name in names])


def print_quick(results: dict[str, list[QuickResult]]) -> None:
    print("\nRows 3 and 4, pace 0: POST /new -> first delta; one stream's deltas per second")
    columns = [
        ("contestant", 15),
        ("first delta p50 ms", 19),
        ("deltas/s", 10),
        ("srv CPU", 8),
        ("model CPU", 10),
        ("client CPU", 11),
        ("load", 6),
    ]
    rows = [
        [
            name,
            f"{median([figure_of(r, 'first_delta_ms') for r in found]):.2f}",
            f"{median([figure_of(r, 'deltas_per_s') for r in found]):,.0f}",
            f"{median([r.server_cpu for r in found]):.0%}",
            f"{median([r.model_cpu for r in found]):.0%}",
            f"{median([r.reader_cpu for r in found]):.0%}",
            f"{median([r.load for r in found]):.1f}",
        ]
        for name, found in results.items()
    ]
    print_table(columns, rows)
    print_ratios(results, QUICK_METRICS)


NOTES = """
done: readers that got `done` within {limit:.0f} s of reading, over all rounds.
paced: each delta's arrival minus when its answer's pace had it due: (the answer's first
  delta's arrival) + (seq - 1) x {pace} ms, the model's steady pace (or, for a lab reader that
  came later, when its GET left); p50 and p99 over all the deltas of a round, median over
  rounds. Time to first token is not in it: row 3 measures that.
µs/delta: server process CPU (user + sys, /proc) per delta delivered to a reader, the
  server's part of the model stream (openai SDK) included. KiB/stream: the server's peak
  resident memory (VmHWM) minus its idle memory after one warm-up answer, per reader.
srv / model / readers CPU: share of one core over the row (100%: a saturated event loop;
  readers: two processes together, out of 200%). Whichever is near its limit, or all of
  them adding up to the 2 cores, is what bounds the row.
lab / peer: the ratio of the two figures measured in the same round, median [min-max] over
  rounds; under 1 the lab is ahead for every column but deltas/s, where over 1 is ahead.
  best peer: per round, the best of the peers' figures.
rows 1 and 2: readers in two processes on bare sockets, their GETs spread over 2 s, each
  answer created (POST /new) just before its first reader's GET. The lab's 100 x 10 row
  has 100 answers read by 10 readers each; each peer reader makes its own POST /new
  (1,000 answers: peers share nothing), so the peers do the same row 1 job again.
rows 3 and 4 (pace 0): all five servers of a round open at once, one keep-alive client
  connection to each; row 3 alternates contestants run by run ({runs} runs each after 10
  warm-up runs), row 4 reads {streams} whole answers each, alternating likewise: from
  POST /new to the last byte. CPU shares over row 4's streams.
All on 127.0.0.1 of one machine ({cores} cores): server, model and readers share it."""


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument(
        "--quick", action="store_true", help="a short run: 100 readers, 2 rounds, fewer runs"
    )
    cli.add_argument("--rounds", type=int, default=3, help="rounds of rows 1 and 2")
    cli.add_argument("--readers", type=int, default=1000, help="readers in rows 1 and 2")
    cli.add_argument("--rows", type=int, nargs="+", default=[1, 2, 3, 4], choices=[1, 2, 3, 4])
    cli.add_argument("--limit", type=float, default=LIMIT, help="seconds of reading per row")
    args = cli.parse_args()
    raise_fd_limit()
    full = (args.readers, args.rounds, (5, 40, 8))
    readers, rounds, quick = (100, 2, (2, 15, 3)) if args.quick else full
    print(
        f"{readers} readers in rows 1-2, {rounds} rounds; rows 3-4: {quick[0]} rounds of"
        f" {quick[1]} runs and {quick[2]} streams; {os.cpu_count()} cores, load average"
        f" {Path('/proc/loadavg').read_text().strip()} at the start",
        flush=True,
    )
    saved: dict[str, object] = {"load_at_start": load(), "quick": args.quick}
    if 1 in args.rows:
        row1 = readers_rounds(readers, 1, rounds, args.limit)
        print_readers(f"Row 1: {readers} answers x 1 reader, pace {PACE * 1000:.0f} ms", row1)
        saved["row1"] = {n: [vars(r) for r in rs] for n, rs in row1.items()}
        RESULTS.write_text(json.dumps(saved, indent=1))
    if 2 in args.rows:
        row2 = readers_rounds(readers // 10, 10, rounds, args.limit)
        print_readers(
            f"Row 2: lab {readers // 10} answers x 10 readers; peers {readers} x 1 (no sharing)",
            row2,
        )
        saved["row2"] = {n: [vars(r) for r in rs] for n, rs in row2.items()}
        RESULTS.write_text(json.dumps(saved, indent=1))
    if 3 in args.rows or 4 in args.rows:
        rows34 = quick_rounds(*quick)
        print_quick(rows34)
        saved["rows34"] = {n: [vars(r) for r in rs] for n, rs in rows34.items()}
    saved["load_at_end"] = load()
    RESULTS.write_text(json.dumps(saved, indent=1))
    print(f"\n(figures saved in {RESULTS.name}; `python benchmarks/peers_figure.py` draws them)")
    print(
        NOTES.format(
            limit=args.limit,
            pace=f"{PACE * 1000:.0f}",
            runs=quick[1],
            streams=quick[2],
            cores=os.cpu_count(),
        )
    )


if __name__ == "__main__":
    main()

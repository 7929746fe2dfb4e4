"""A thousand `GET /sse/{id}` readers at the built-in model's 20 ms pace, on two cores.

Two arrangements: the headline has the model in a process of its own (a second lab server
whose /v1 the measured server calls, as a deployment calls a remote provider), so that the
measured server does only the SSE side; the other has the model in the server's process, on
its event loop. For each row (answers x readers per answer), a fresh server process starts,
and two reader processes with half the answers each create them (`POST /new`, aiohttp) and
read them (`GET /sse/{id}` on bare sockets). Printed: how many readers got to `done`, how
long streams took to open, how late the deltas arrived, how loaded the server's CPU was,
and the server's memory per open stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass, field
from itertools import accumulate
from multiprocessing.connection import Connection

import aiohttp
from _common import (
    AUTH,
    LONG_PROMPTS,
    Chunks,
    ServerProcess,
    client_session,
    cpu_seconds,
    lab_runner,
    machine_note,
    new_answer,
    percentile,
    print_table,
    raise_fd_limit,
    read_chunks,
    timed_events,
)

from sse_lab.services.redis import start_redis

PACE = 0.02  # seconds per token of the built-in model
READER_PROCESSES = 2
SERVER = {"token_delay": PACE, "db_path": "bench.db"}  # token_delay: for its own /v1 only
MODEL = {"token_delay": PACE}  # the lab server whose /v1 is the model of its own process
# The readers' requests leave evenly spread over RAMP s, as visitors arrive, not in one
# burst; an answer is created just before its first reader. Answers of ~200 tokens (two
# topics each, ~4 s at PACE) outlast the ramp: for a few seconds all readers are open at once.
RAMP = 2.0
LIMIT = 24.0  # seconds of reading a row: with a server's start, a row takes at most ~30 s


@dataclass
class Reading:
    """One reader's view: when its answer was created, its request sent and its response's
    head came, and each delta's arrival (time.monotonic(): one clock for every process on
    the machine)."""

    answer: str
    posted: float
    sent: float = 0.0
    opened: float = 0.0
    reads: Chunks = field(default_factory=list)
    deltas: dict[int, float] = field(default_factory=dict)
    last: float = 0.0  # when its last read came
    done: bool = False
    error: str = ""

    def parse(self) -> None:
        """Turn the raw reads into delta arrival times (after the run, not during it)."""
        status, self.opened, body = http_response(self.reads)
        self.last = self.reads[-1][0] if self.reads else 0.0
        if status != 200:
            self.error = self.error or f"status {status}"
        for at, event in timed_events(body):
            if event.event == "message":
                self.deltas[int(event.id or 0)] = at
            elif event.event == "done":
                self.done = True
            elif event.event == "error":
                self.error = event.data
        self.reads = []


def http_response(reads: Chunks) -> tuple[int, float, Chunks]:
    """An HTTP/1.1 response read in pieces: its status, when its head came, and its chunked
    body's data, each piece with the arrival of the read that completed it."""
    buffer, status, opened, body, size = b"", 0, 0.0, [], -1
    for at, data in reads:
        buffer += data
        if not status:
            head, blank, rest = buffer.partition(b"\r\n\r\n")
            if not blank:
                continue
            status, opened, buffer = int(head.split()[1]), at, rest
            if status != 200:
                return status, opened, body  # e.g. a 503: its body is no event stream
        while True:
            if size < 0:
                line, crlf, rest = buffer.partition(b"\r\n")
                if not crlf:
                    break
                size, buffer = int(line, 16), rest
                if size == 0:
                    return status, opened, body
            if len(buffer) < size + 2:
                break
            body.append((at, buffer[:size]))
            buffer, size = buffer[size + 2 :], -1
    return status, opened, body


class StreamReader(asyncio.Protocol):
    """One `GET /sse/{id}` on a bare socket, keeping each read with its arrival time: the
    cheapest reader there is, so that the two cores go to the server (a browser's work
    would be done on its own machine). `Connection: close`: the response ends the socket."""

    def __init__(self, request: bytes, reading: Reading) -> None:
        self.request = request
        self.reading = reading
        loop = asyncio.get_running_loop()
        self.headed: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.reading.reads.append((time.monotonic(), data))
        if not self.headed.done():
            self.headed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.headed, self.closed):
            if not future.done():
                future.set_result(None)


class Readers:
    """A reader process's streams: answers it creates, each read by several streams at once."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.readings: list[Reading] = []
        self.transports: list[asyncio.BaseTransport] = []

    async def answer(self, url: str, prompt: str, times: list[float], read_at: list[str]) -> None:
        """Create an answer on the server at `url` at the first of `times`, and read it
        with a stream from each, the j-th on server `read_at[j mod len(read_at)]`."""
        await asyncio.sleep(max(0.0, times[0] - time.monotonic()))
        try:
            answer = await new_answer(self.session, url, prompt)
        except aiohttp.ClientError as exc:
            self.readings += [Reading("", 0.0, error=repr(exc)) for _ in times]
            return
        posted = time.monotonic()
        readings = [Reading(answer, posted, sent=at) for at in times]
        self.readings += readings
        urls = (read_at[j % len(read_at)] for j in range(len(readings)))
        await asyncio.gather(*(self.read(u, r) for u, r in zip(urls, readings, strict=False)))

    async def read(self, url: str, reading: Reading) -> None:
        """Open the stream at `reading.sent` (or at once, if that has passed) and read it."""
        host, port = url.removeprefix("http://").split(":")
        request = (
            f"GET /sse/{reading.answer} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: {AUTH['Authorization']}\r\nAccept: text/event-stream\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        await asyncio.sleep(max(0.0, reading.sent - time.monotonic()))
        loop = asyncio.get_running_loop()
        try:
            transport, reader = await loop.create_connection(
                lambda: StreamReader(request, reading), host, int(port)
            )
            self.transports.append(transport)
            await reader.closed
        except OSError as exc:
            reading.error = repr(exc)

    def close(self) -> None:
        """Close the sockets still open (their readers ran out of time)."""
        for transport in self.transports:
            transport.close()


async def read_share(
    urls: list[str],
    row: tuple[int, int],
    answers: list[int],
    start_at: float,
    limit: float,
    spread: bool = False,
) -> tuple[list[Reading], float, float]:
    """Run this process's `answers` (their numbers in the `row`: answers x readers each)
    until done or `limit` s: the readings, the CPU seconds used, and when the last stream
    ended. Reader k of the row (answer n's j-th: k = n x readers + j) starts at
    `start_at` + k x RAMP / (all readers of the row); answer n is on server n mod len(urls),
    as a proxy routing by answer would send it and its readers there; `spread` (a shared
    store): its j-th reader on server (n + j) mod len(urls) instead."""
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    cpu = time.process_time()
    per_answer = row[1]
    step = RAMP / (row[0] * per_answer)
    async with client_session() as session:
        readers = Readers(session)
        work = []
        for n in answers:
            first = n * per_answer
            times = [start_at + (first + j) * step for j in range(per_answer)]
            prompt = LONG_PROMPTS[n % len(LONG_PROMPTS)]
            home = n % len(urls)
            read_at = urls[home:] + urls[:home] if spread else [urls[home]]
            work.append(readers.answer(urls[home], prompt, times, read_at))
        try:
            async with asyncio.timeout(limit):
                await asyncio.gather(*work)
        except TimeoutError:
            pass  # the unfinished readers are counted as such
        finally:
            readers.close()
    ended, cpu = time.monotonic(), time.process_time() - cpu
    for reading in readers.readings:
        reading.parse()
    return readers.readings, cpu, ended


def reader_process(
    pipe: Connection,
    urls: list[str],
    row: tuple[int, int],
    answers: list[int],
    start_at: float,
    limit: float,
    spread: bool,
) -> None:
    raise_fd_limit()
    pipe.send(asyncio.run(read_share(urls, row, answers, start_at, limit, spread)))
    pipe.close()


@dataclass
class Latenesses:
    """A row's delays in s, as NOTES defines them: one per answer (posting, first_token,
    generation) or one per delta at each reader (fan_out, paced, late)."""

    posting: list[float] = field(default_factory=list)
    first_token: list[float] = field(default_factory=list)
    fan_out: list[float] = field(default_factory=list)
    paced: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # of the deltas of `paced` and `late`
    generation: list[float] = field(default_factory=list)


@dataclass
class Outcome:
    """One arrangement's results, as the table shows them."""

    arrangement: str
    readers: int
    readings: list[Reading]
    seconds: float
    server_cpu: float  # s
    model_cpu: float | None  # s, the model's own process (None: it runs in the server's)
    client_cpu: float  # s, both reader processes
    idle_kib: int
    peak_kib: int

    def latenesses(self, interval: float) -> Latenesses:
        """The row's delays, each delta's measured against `interval` s per token."""
        groups: dict[str, list[Reading]] = {}
        for reading in self.readings:
            groups.setdefault(reading.answer, []).append(reading)
        found = Latenesses()
        for group in groups.values():
            opener = min(group, key=lambda r: r.sent)  # its POST /new left at `sent`
            found.posting.append(opener.posted - opener.sent)
            first: dict[int, float] = {}
            for reading in group:
                for seq, at in reading.deltas.items():
                    first[seq] = min(at, first.get(seq, at))
            if not first:
                continue
            found.generation.append(token_interval(opener.posted, first) / PACE)
            start = first[min(first)] - min(first) * interval  # where the answer's pace began
            found.first_token.append(first[min(first)] - opener.posted)
            for reading in group:
                for seq, at in reading.deltas.items():
                    found.late.append(at - max(reading.sent, reading.posted + seq * interval))
                    found.paced.append(at - max(reading.sent, start + seq * interval))
                    found.arrivals.append(at)
                    if len(group) > 1 and first[seq] >= reading.opened:
                        found.fan_out.append(at - first[seq])
        return found

    def row(self, found: Latenesses) -> list[object]:
        """The table's row, from the row's `latenesses`."""
        opening = [r.opened - r.sent for r in self.readings if r.opened]
        delivered = sum(len(r.deltas) for r in self.readings)

        def ms(values: list[float], share: float) -> str:
            return f"{percentile(values, share) * 1000:.0f}" if values else "-"

        return [
            self.arrangement,
            f"{sum(r.done for r in self.readings)}/{self.readers}",
            ms(opening, 0.5),
            ms(opening, 0.99),
            ms(found.posting, 0.5),
            ms(found.posting, 0.99),
            most_at_once(self.readings),
            ms(found.fan_out, 0.5),
            ms(found.fan_out, 0.99),
            ms(found.first_token, 0.5),
            ms(found.first_token, 0.99),
            ms(found.paced, 0.5),
            ms(found.paced, 0.99),
            ms(found.late, 0.5),
            ms(found.late, 0.99),
            f"{percentile(found.generation, 0.5):.2f}x" if found.generation else "-",
            f"{self.server_cpu / self.seconds:.0%}",
            "-" if self.model_cpu is None else f"{self.model_cpu / self.seconds:.0%}",
            f"{self.server_cpu / max(1, delivered) * 1e6:.0f}",
            f"{self.client_cpu / self.seconds:.0%}",
            f"{self.idle_kib / 1024:.0f}",
            f"{self.peak_kib / 1024:.0f}",
            f"{(self.peak_kib - self.idle_kib) / self.readers:.0f}",
        ]

    def over_time(self, found: Latenesses, window: float) -> list[list[object]]:
        """Rows of the lateness (the row's `latenesses`) of the deltas that arrived in each
        `window` s of the run, from its first GET: when in a row the deltas were late."""
        begin = min(r.sent for r in self.readings)
        windows: dict[int, list[int]] = {}
        for i, at in enumerate(found.arrivals):
            windows.setdefault(int((at - begin) / window), []).append(i)
        rows: list[list[object]] = []
        for n, indices in sorted(windows.items()):
            paced = [found.paced[i] for i in indices]
            late = [found.late[i] for i in indices]
            opened = sum(1 for r in self.readings if r.opened and r.opened - begin < n * window)
            cells = (percentile(v, q) * 1000 for v in (paced, late) for q in (0.5, 0.99))
            rows.append([f"{n * window:.1f}", len(indices), opened, *(f"{c:.0f}" for c in cells)])
        return rows

    def unloaded_interval(self) -> float:
        """Seconds per token of this (single, unloaded) answer, from POST to its last delta."""
        (reading,) = self.readings
        return token_interval(reading.posted, reading.deltas)


def most_at_once(readings: list[Reading]) -> int:
    """The most streams open at the same moment, from their head to their last read."""
    changes = sorted(
        (at, step) for r in readings if r.opened for at, step in ((r.opened, 1), (r.last, -1))
    )
    return max(accumulate(step for _, step in changes), default=0)


def token_interval(posted: float, arrivals: dict[int, float]) -> float:
    """Seconds per token of an answer: from POST /new to its last delta's arrival."""
    last = max(arrivals)
    return (arrivals[last] - posted) / last


def run_row(
    answers: int,
    per_answer: int,
    limit: float,
    model: ServerProcess | None,
    workers: int = 1,
    redis: bool = False,
) -> Outcome:
    """Fresh servers (`workers` processes, each with its own database, or with `redis` all
    on one fresh redis-server), their model on `model`'s /v1 (None: each its own);
    `answers` x `per_answer` readers over the reader processes. CPU and memory are the
    servers' together (and the redis-server's CPU)."""
    context = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(start_redis()) if redis else None
        changes = {**SERVER, "store": store.url} if store else SERVER
        servers = [
            stack.enter_context(ServerProcess(lab_runner, changes, model.url if model else ""))
            for _ in range(workers)
        ]
        urls = [server.url for server in servers]
        for url in urls:
            asyncio.run(warm_up(url))
        idle = sum(server.status_kib("VmRSS") for server in servers)
        start = time.monotonic() + 3.0  # time for the reader processes to start
        pipes, processes = [], []
        for i in range(READER_PROCESSES):
            share = list(range(i, answers, READER_PROCESSES))
            ours, theirs = context.Pipe()
            args = (theirs, urls, (answers, per_answer), share, start, limit, redis)
            processes.append(context.Process(target=reader_process, args=args, daemon=True))
            processes[-1].start()
            theirs.close()
            pipes.append(ours)
        measured = servers if model is None else [*servers, model]
        time.sleep(max(0.0, start - time.monotonic()))
        cpu = [p.cpu_seconds() for p in measured]
        store_cpu = cpu_seconds(store.pid or 0) if store else 0.0
        results = [pipe.recv() if pipe.poll(limit + 60) else ([], 0.0, start) for pipe in pipes]
        seconds = max(ended for _, _, ended in results) - start
        # Idle since the streams ended.
        used = [p.cpu_seconds() - c for p, c in zip(measured, cpu, strict=True)]
        if store:
            used[0] += cpu_seconds(store.pid or 0) - store_cpu  # counted as the servers' own
        peak = sum(server.status_kib("VmHWM") for server in servers)
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    readings = [r for rs, _, _ in results for r in rs]
    client_cpu = sum(c for _, c, _ in results)
    name = f"{answers} x {per_answer}"
    server_cpu, model_cpu = sum(used[:workers]), used[workers] if model else None
    return Outcome(
        name, answers * per_answer, readings, seconds, server_cpu, model_cpu, client_cpu, idle, peak
    )


async def warm_up(url: str) -> None:
    """One answer created and read, so that the idle memory has what any answer loads."""
    async with client_session() as session:
        answer = await new_answer(session, url, "warm up")
        async with session.get(f"{url}/sse/{answer}", headers=AUTH) as response:
            await read_chunks(response)


COLUMNS = [
    ("answers x readers", 18),
    ("done", 11),
    ("open p50", 9),
    ("p99", 6),
    ("POST p50", 9),
    ("p99", 6),
    ("at once", 8),
    ("fan-out p50", 12),
    ("p99", 6),
    ("1st p50", 8),
    ("p99", 6),
    ("paced p50", 10),
    ("p99", 6),
    ("late p50", 9),
    ("p99", 6),
    ("gen. time", 10),
    ("srv CPU", 8),
    ("model CPU", 10),
    ("µs/delta", 9),
    ("cli CPU", 8),
    ("idle MiB", 9),
    ("peak MiB", 9),
    ("KiB/stream", 11),
]

NOTES = """
answers x readers: that many answers, each read by that many concurrent `GET /sse/{{id}}`.
done: readers that got the `done` event within the time limit ({limit:.0f} s of reading a row).
POST: from an answer's `POST /new` leaving to its 201 arriving, in ms.
open: from a reader's GET leaving (its socket's connect) to its response's head arriving, in
  ms: the server's accept queue and handlers.
at once: the most streams open at the same moment (from their head to their last byte).
1st: time to first token, one per answer, in ms: from its POST /new answered to its first
  delta's arrival at its earliest reader (the upstream request's set-up under load, and one
  token of the model's pace, included).
lateness of each delta at each reader, in ms:
  paced: its arrival minus when its answer's pace, from that answer's first delta on, had it
    due: (first delta's arrival at the earliest reader) + (seq - 1) x (seconds per token of
    the 1 x 1 row), or for a reader that came later, when its GET left. What every event
    after the first waits for, whatever the first token's delay: serving LLM answers calls
    this inter-token latency, beside time to first token;
  fan-out: its arrival minus its arrival at the earliest reader of the same answer, for
    deltas that came after the reader's stream opened (not a backlog caught up on): what
    serving many readers adds; none with one reader per answer;
  late: the strictest: its arrival minus when it was due: when the model at its unloaded
    pace would have delivered it, (POST /new answered) + seq x (seconds per token of the
    1 x 1 row of the same table, in its title), or for a reader that came later, when its
    GET left. So what the server takes to open a stream counts, the first token's delay
    (1st) for every delta of the answer, and a model that falls behind its pace too.
    The built-in model keeps a steady pace: token n is due n x {pace} ms after its first.
gen. time: median over answers of (last delta at its earliest reader - POST /new) /
  (deltas x {pace} ms): 1.00x = the model kept its nominal pace, 2.00x = twice as long.
srv CPU: server process CPU / wall time (100% = its one event loop saturated a core); with
  the model in its own process the server still reads each answer's model stream (openai
  SDK) and stores each delta;
  model CPU: the model's own process likewise; "-" when it runs in the server process (its
  CPU is then in srv CPU);
  µs/delta: server CPU per delta delivered to a reader (the answer's generation, or reading
  it from the model, included);
  cli CPU: both reader processes together.
memory: the server process only, never the model's own process: VmRSS when idle (after one
  warm-up answer), VmHWM (peak) over the run, and (peak - idle) / readers; with one reader
  per answer this includes the answer's task and model stream (and, in the same process, the
  model's side of that stream).
arrangement: server = the lab app in its own spawned process (as `python -m sse_lab serve`,
  without log output), a fresh one per row; model in its own process = a second lab server,
  spawned once for its table, whose /v1 the server calls over HTTP (openai SDK) as it would
  a remote provider's; readers: {processes} spawned processes, every other answer each,
  their GETs evenly spread over {ramp:.0f} s, each answer created (aiohttp) just before its
  first reader's GET; each stream read on a bare socket (asyncio.Protocol keeping each read
  with its arrival time, parsed after the run); all on 127.0.0.1. Only 2 cores: the
  server, the model's own process and the reader processes compete for them, so the
  model's pace also suffers from the load of the server and the readers, which a remote
  provider's would not.
--workers N: N server processes per row, each with its own database; answer n is created
  on process n mod N and its readers read it there, as a proxy that routes each answer's
  requests to the process holding it would send them. srv CPU and memory are then those
  of all N together (srv CPU can pass 100%).
--redis: the servers share one fresh redis-server per row (the Redis answer store); answer
  n is still created on process n mod N, but its j-th reader reads it on process
  (n + j) mod N, as a proxy that knows nothing of answers would spread them. srv CPU then
  includes the redis-server's."""

OWN_PROCESS = "Model in its own process (the headline): the server does only the SSE side"
SAME_PROCESS = "Model in the same process: the server's event loop also generates every answer"


OVER_TIME = [
    ("from s", 7),
    ("deltas", 7),
    ("opened", 7),
    ("paced p50", 10),
    ("p99", 6),
    ("late p50", 9),
    ("p99", 6),
]


def print_outcomes(title: str, outcomes: list[Outcome], window: float = 0.0) -> None:
    """One arrangement's table, pace lateness against its 1 x 1 row, then its errors; with a
    `window`, each row's lateness in each `window` s after it."""
    interval = outcomes[0].unloaded_interval()
    print(f"{title}; 1 x 1 pace: {interval * 1000:.1f} ms a token")
    found = [o.latenesses(interval) for o in outcomes]
    print_table(COLUMNS, [o.row(f) for o, f in zip(outcomes, found, strict=True)])
    for o in outcomes:
        errors = sorted({r.error for r in o.readings if r.error})
        if errors:
            print(f"{o.arrangement} errors: {'; '.join(errors)[:300]}")
    for o, f in list(zip(outcomes, found, strict=True))[1:] if window else []:
        print(f"\n{o.arrangement}, deltas by arrival ({window:g} s windows; opened: streams")
        print("open by the window's start; lateness in ms):")
        print_table(OVER_TIME, o.over_time(f, window))
    print()


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--quick", action="store_true", help="a short run: 100 readers")
    cli.add_argument("--readers", type=int, default=1000)
    cli.add_argument("--limit", type=float, default=LIMIT, help="seconds of reading per row")
    cli.add_argument(
        "--per-answer",
        type=int,
        nargs="+",
        default=[100, 10, 1],
        help="readers per answer, a row each (after the 1 x 1 row that sets the pace)",
    )
    cli.add_argument(
        "--arrangement", choices=["own", "same", "both"], default="both", help="the model's place"
    )
    cli.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N server processes, each answer and its readers on one of them (as a proxy"
        " routing by answer would send them)",
    )
    cli.add_argument(
        "--redis",
        action="store_true",
        help="the servers share their answers through one redis-server; readers spread over them",
    )
    cli.add_argument(
        "--over-time",
        type=float,
        default=0.0,
        metavar="S",
        help="also each row's lateness by when the deltas arrived, in windows of S seconds",
    )
    args = cli.parse_args()
    readers = 100 if args.quick else max(100, args.readers)
    raise_fd_limit()
    print(f"{readers} readers, model pace {PACE * 1000:.0f} ms per token; {machine_note()}\n")
    workers = f", {args.workers} server processes" if args.workers > 1 else ""
    workers += " on one Redis" if args.redis else ""
    shapes = [(1, 1), *((readers // n, n) for n in args.per_answer)]
    if args.arrangement != "same":
        with ServerProcess(lab_runner, MODEL) as model:
            own = [run_row(a, n, args.limit, model, args.workers, args.redis) for a, n in shapes]
        print_outcomes(OWN_PROCESS + workers, own, args.over_time)
    if args.arrangement != "own":
        same = [run_row(a, n, args.limit, None, args.workers, args.redis) for a, n in shapes]
        print_outcomes(SAME_PROCESS + workers, same, args.over_time)
    print(
        NOTES.format(
            limit=args.limit,
            pace=f"{PACE * 1000:.0f}",
            processes=READER_PROCESSES,
            ramp=RAMP,
        ).lstrip()
    )


if __name__ == "__main__":
    main()

"""How long from `POST /new` to the first delta of the answer, on loopback at model pace 0?

Beside it, the same round trip on a bare aiohttp pair: a POST that returns an id, and a GET
that streams one event at once. Both servers run in processes of their own; the client
(aiohttp, one keep-alive connection) alternates between them, run by run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp
from _common import (
    AUTH,
    LONG_PROMPTS,
    ServerProcess,
    answer_events,
    bare_runner,
    client_session,
    lab_runner,
    machine_note,
    median,
    new_answer,
    open_stream,
    percentile,
    print_table,
)
from aiohttp import web

from sse_lab.sse import EventStreamParser

Timing = tuple[float, float]  # (POST answered, first delta arrived), s after the POST began


def bare_pair(url: str) -> web.AppRunner:
    """`POST /new` returns a fresh id; `GET /sse/{id}` streams one delta and ends."""
    routes = web.RouteTableDef()
    ids = itertools.count(1)

    @routes.post("/new")
    async def new(request: web.Request) -> web.Response:
        prompt = (await request.json())["prompt"]
        answer = f"ans_{next(ids)}_{len(prompt)}"
        return web.json_response({"id": answer, "stream_url": f"/sse/{answer}"}, status=201)

    @routes.get("/sse/{id}")
    async def stream(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        for event in itertools.islice(answer_events(["Hello"]), 2):  # retry, then one delta
            await response.write(event)
        return response

    return bare_runner(routes)


async def first_delta(session: aiohttp.ClientSession, url: str, prompt: str) -> Timing:
    """POST a prompt, open its stream, wait for the first delta; then read the rest, so that
    the next run starts on a quiet server."""
    start = time.monotonic()
    answer = await new_answer(session, url, prompt)
    posted = time.monotonic() - start
    parser = EventStreamParser()
    arrived = 0.0
    async with session.get(f"{url}/sse/{answer}", headers=AUTH) as response:
        response.raise_for_status()
        async for chunk in response.content.iter_any():
            if arrived:
                continue
            first = next((e for e in parser.feed(chunk) if e.event == "message"), None)
            if first is not None:
                arrived = time.monotonic() - start
                if "delta" not in json.loads(first.data):
                    raise AssertionError(f"the first event is not a delta: {first.data}")
    if not arrived:
        raise AssertionError(f"no delta from {url}/sse/{answer}")
    return posted, arrived


async def run(runs: int, warm_up: int) -> dict[str, list[Timing]]:
    timings: dict[str, list[Timing]] = {"lab": [], "bare": []}
    prompts = itertools.cycle(LONG_PROMPTS)
    with (
        ServerProcess(lab_runner, {"token_delay": 0.0, "db_path": "bench.db"}) as lab,
        ServerProcess(bare_pair) as bare,
    ):
        async with client_session(connections=1) as session:
            measure: dict[str, Callable[[], Awaitable[Timing]]] = {
                "lab": lambda: first_delta(session, lab.url, next(prompts)),
                "bare": lambda: first_delta(session, bare.url, next(prompts)),
            }
            for n in range(warm_up + runs):
                for name, once in measure.items():
                    timing = await asyncio.wait_for(once(), 30)
                    if n >= warm_up:
                        timings[name].append(timing)
    return timings


def row(name: str, timings: list[Timing]) -> list[object]:
    totals = [arrived for _, arrived in timings]
    return [
        name,
        len(timings),
        f"{median([p for p, _ in timings]) * 1000:.2f}",
        f"{median([a - p for p, a in timings]) * 1000:.2f}",
        f"{min(totals) * 1000:.2f}",
        f"{median(totals) * 1000:.2f}",
        f"{percentile(totals, 0.9) * 1000:.2f}",
    ]


NOTES = """
all times in ms on time.monotonic(), medians over the runs unless said otherwise:
  POST: from sending POST /new to its JSON answer; GET→delta: from then to the first
  delta event at the client (request, headers, retry line, first delta);
  total (min / p50 / p90): from sending POST /new to the first delta.
lab: the chat design end to end: POST stores the prompt and starts generation, which asks
  the built-in model over HTTP (the openai SDK against the server's own /v1, pace 0); the
  GET streams the answer from the store. bare: a POST returning an id, a GET writing one
  event at once (same SSE headers and encoder).
arrangement: each server in its own spawned process (lab: create_app + runner_for, as
  `python -m sse_lab serve` without log output; bare: aiohttp AppRunner defaults); the
  client in this process, one keep-alive connection, alternating lab and bare run by run;
  2 cores, 127.0.0.1."""


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--quick", action="store_true", help="a short run: 30 runs each")
    cli.add_argument("--runs", type=int, default=200)
    args = cli.parse_args()
    runs = 30 if args.quick else max(10, args.runs)
    warm_up = 10
    print(f"POST /new -> first delta: {runs} runs each (+{warm_up} warm-up); {machine_note()}\n")
    timings = asyncio.run(run(runs, warm_up))
    columns = [
        ("server", 8),
        ("runs", 6),
        ("POST", 8),
        ("GET→delta", 11),
        ("total min", 11),
        ("p50", 8),
        ("p90", 8),
    ]
    print_table(columns, [row(name, t) for name, t in timings.items()])
    lab, bare = (median([a for _, a in timings[n]]) for n in ("lab", "bare"))
    print(f"\nlab / bare (median total): {lab / bare:.1f}x, +{(lab - bare) * 1000:.2f} ms")
    print(NOTES)


if __name__ == "__main__":
    main()

"""A worker killed (kill -9) mid-answer, with several `serve` workers on one Redis: how soon
does a reader get on?

- resume: the reader reads through the worker that dies, while another generates; the reader
  reconnects at once to the generating worker with Last-Event-ID. Timed: from the kill to
  the next delta (a browser's EventSource would first wait its `retry`, 2 s here).
- lease: the worker that dies generates; the reader reads through another. Timed: from the
  kill to the `error` event that ends the answer (the lease of 3 s lapsing, checked each s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time

import aiohttp
from _common import machine_note, median, print_table

from sse_lab.services.redis import RedisServer, start_redis
from sse_lab.sse import EventStreamParser

TOKEN = "tok_bench_0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROMPT = "Tell me everything about SSE and WebSockets"


def serve(store: str) -> tuple[str, subprocess.Popen[str]]:
    """A `python -m sse_lab serve --store` process on a free port, once it listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    command = [sys.executable, "-m", "sse_lab", "serve", "--port", "0", "--store", store]
    command += ["--token", f"alice={TOKEN}", "--token-delay", "0.03"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert process.stdout is not None
    found = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
    if found is None:
        process.kill()
        raise RuntimeError("serve did not start")
    return found[0], process


async def events_until(
    response: aiohttp.ClientResponse, stop: asyncio.Event | None = None
) -> list[tuple[float, str, str]]:
    """(arrival, event, id) of each event until the stream ends or breaks."""
    parser, got = EventStreamParser(), []
    try:
        async for chunk in response.content.iter_any():
            for event in parser.feed(chunk):
                got.append((time.monotonic(), event.event, event.id))
                if stop is not None and event.event == "message":
                    stop.set()
    except aiohttp.ClientPayloadError:
        pass  # the worker died under the stream
    return got


async def one_death(redis: RedisServer, generator_dies: bool) -> float:
    """Seconds from the kill to the reader's next event (a delta, or the error end)."""
    (survivor, keep), (doomed, victim) = serve(redis.url), serve(redis.url)
    try:
        generating, reading = (doomed, survivor) if generator_dies else (survivor, doomed)
        async with aiohttp.ClientSession(headers=AUTH) as http:
            async with http.post(f"{generating}/new", json={"prompt": PROMPT}) as response:
                answer_id = (await response.json())["id"]
            begun = asyncio.Event()
            async with http.get(f"{reading}/sse/{answer_id}") as response:
                reader = asyncio.create_task(events_until(response, begun))
                await asyncio.wait_for(begun.wait(), 30)
                await asyncio.sleep(0.3)  # mid-answer
                killed = time.monotonic()
                victim.kill()
                got = await asyncio.wait_for(reader, 30)
            if generator_dies:
                ends = [at for at, event, _ in got if event == "error"]
                return ends[0] - killed
            last_id = [seq for _, event, seq in got if event == "message"][-1]
            headers = {"Last-Event-ID": last_id}
            async with http.get(f"{survivor}/sse/{answer_id}", headers=headers) as response:
                parser = EventStreamParser()
                async for chunk in response.content.iter_any():
                    if any(e.event == "message" for e in parser.feed(chunk)):
                        return time.monotonic() - killed
        raise RuntimeError("no delta after the reconnect")
    finally:
        for process in (keep, victim):
            process.kill()
            process.wait(10)
            assert process.stdout is not None
            process.stdout.close()


async def run(repeats: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"resume": [], "lease": []}
    with start_redis() as redis:
        for _ in range(repeats):  # alternately, so that a busy moment hits both alike
            found["resume"].append(await one_death(redis, generator_dies=False))
            found["lease"].append(await one_death(redis, generator_dies=True))
    return found


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--repeats", type=int, default=5)
    args = cli.parse_args()
    print(f"{args.repeats} deaths of each kind; {machine_note()}\n")
    found = asyncio.run(run(max(1, args.repeats)))
    rows = [
        [
            "resume: kill -> next delta on another worker",
            f"{median(found['resume']) * 1000:.0f}",
            f"{max(found['resume']) * 1000:.0f}",
        ],
        [
            "lease: kill of the generating worker -> error end",
            f"{median(found['lease']) * 1000:.0f}",
            f"{max(found['lease']) * 1000:.0f}",
        ],
    ]
    print_table([("what", 52), ("median ms", 10), ("max ms", 8)], rows)
    print(
        "\nresume: the reader reconnects at once (an EventSource would wait `retry`, 2000 ms);"
        "\nlease: bound 3 s lease + 1 s check interval + a read; the deltas before it are kept."
    )


if __name__ == "__main__":
    main()

"""What does opening one `GET /sse/{id}` stream cost the server, beside a bare aiohttp handler?

Readers arriving add this to the work of the streams already open: a ramp of 500 new
readers a second on top of a thousand streams is where many_readers.py finds its lateness.
Each stream here is a new connection that reads the response's head and first event and
leaves; the server notices at its next write, so closing is counted too. The lab serves a
running answer (model pace 50 ms); the bare handler writes the same kind of event at the
same pace. Server CPU is read from /proc once every stream has closed.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import (
    AUTH,
    LONG_PROMPTS,
    ServerProcess,
    bare_runner,
    client_session,
    lab_runner,
    machine_note,
    median,
    new_answer,
    open_stream,
    print_table,
    raise_fd_limit,
)
from aiohttp import web

from sse_lab.sse import ServerSentEvent, encode_retry

PACE = 0.05  # s between events: the answer must outlast the run (max_tokens x PACE)
IN_FLIGHT = 20  # streams being opened at once


def bare_app(url: str) -> web.AppRunner:
    """`GET /sse/{id}`: an SSE response writing a delta every PACE s until its client leaves."""
    routes = web.RouteTableDef()

    @routes.get("/sse/{id}")
    async def stream(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        await response.write(encode_retry(3000))
        try:
            for seq in range(1, 10_000):
                event = ServerSentEvent(data='{"delta": "Hi"}', id=str(seq))
                await response.write(event.encode())
                await asyncio.sleep(PACE)
        except ConnectionResetError:
            pass  # the client left
        return response

    return bare_runner(routes)


async def open_streams(url: str, path: str, count: int) -> None:
    """Open `count` streams on new connections, IN_FLIGHT at a time, each left once its
    first event came."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: {AUTH['Authorization']}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with slots:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(request)
            await reader.readuntil(b"\nid: ")
            writer.close()

    await asyncio.gather(*(one() for _ in range(count)))


async def cost(server: ServerProcess, path: str, count: int) -> tuple[float, float]:
    """Server CPU µs per stream, and streams opened per second, over `count` streams."""
    await open_streams(server.url, path, 50)  # warm-up
    await asyncio.sleep(2 * PACE)
    cpu, start = server.cpu_seconds(), time.monotonic()
    await open_streams(server.url, path, count)
    seconds = time.monotonic() - start
    await asyncio.sleep(2 * PACE)  # the last ones' leaving noticed
    return (server.cpu_seconds() - cpu) / count * 1e6, count / seconds


async def lab_cost(server: ServerProcess, count: int) -> tuple[float, float]:
    """`cost` of the lab's route, reading one running answer."""
    async with client_session() as session:
        answer = await new_answer(session, server.url, " ".join(LONG_PROMPTS))
    return await cost(server, f"/sse/{answer}", count)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--streams", type=int, default=2000, help="streams opened per server")
    cli.add_argument("--rounds", type=int, default=5, help="fresh servers of each kind")
    args = cli.parse_args()
    count, rounds = max(100, args.streams), max(1, args.rounds)
    raise_fd_limit()
    print(
        f"{count} streams opened per server, {IN_FLIGHT} at a time, {rounds} rounds of a fresh"
        f" bare and a fresh lab server; {machine_note()}\n"
    )
    costs: dict[str, list[tuple[float, float]]] = {"lab": [], "bare": []}
    for _ in range(rounds):  # alternating, so that both meet the machine's ups and downs
        with ServerProcess(bare_app) as bare:
            costs["bare"].append(asyncio.run(cost(bare, "/sse/x", count)))
        with ServerProcess(lab_runner, {"token_delay": PACE}) as lab:
            costs["lab"].append(asyncio.run(lab_cost(lab, count)))
    bare_us = median([us for us, _ in costs["bare"]])
    rows = []
    for name, title in (("lab", "lab GET /sse/{id} (running answer)"), ("bare", "bare aiohttp")):
        us = [us for us, _ in costs[name]]
        rate = median([rate for _, rate in costs[name]])
        spread = f"{min(us):.0f}-{max(us):.0f}"
        rows.append(
            (title, f"{median(us):.0f}", spread, f"{median(us) / bare_us:.2f}x", f"{rate:.0f}")
        )
    columns = [
        ("server", 34),
        ("µs CPU/stream", 14),
        ("min-max", 9),
        ("vs bare", 8),
        ("streams/s", 10),
    ]
    print_table(columns, rows)
    print(
        "\nµs CPU/stream: server process CPU (user + sys) per stream, from its connection's"
        "\n  accept to its close, median over the rounds (min-max beside it); streams/s: as"
        "\n  the client opened them, median (not a server limit). The lab's readers catch up"
        "\n  on the deltas the answer has so far (tens) before their first live one."
    )


if __name__ == "__main__":
    main()

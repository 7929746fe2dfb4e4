"""Where the lab server's memory goes while N answers x 1 reader stream (row 1 of `peers.py`).

The lab server runs in a process of its own, its model in another, as in `many_readers.py`.
Every `--every` seconds of the row it reports its resident memory (VmRSS) and what
CPython's small-object allocator holds in live objects (pymalloc's "bytes in allocated
blocks", from `sys._debugmallocstats`); at `--types-at` s, the live objects by type
(`sys.getsizeof`, the objects the garbage collector tracks and those they refer to).
So the growth of RSS over a row splits into live Python objects and the rest (memory
freed but kept by the allocators, buffers of C code, SQLite's page cache).
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

from _common import ServerProcess, lab_runner, machine_note, print_table
from aiohttp import web
from many_readers import PACE, read_row

ALLOCATED = re.compile(rb"# bytes in allocated blocks\s*=\s*([\d,]+)")


def measured_lab(url: str, changes: dict[str, Any], model_url: str) -> web.AppRunner:
    """The lab app as `many_readers.py` runs it, with `GET /bench/memory` beside it."""
    runner = lab_runner(url, changes, model_url)
    runner.app.router.add_get("/bench/memory", memory)
    return runner


async def memory(request: web.Request) -> web.Response:
    """What live small objects hold now; with `?types=1`, the live objects by type too."""
    report: dict[str, Any] = {"allocated": pymalloc_allocated()}
    if request.query.get("types"):
        report["types"] = live_types()
    return web.json_response(report)


def pymalloc_allocated() -> int:
    """Bytes of live small objects (pymalloc), from the stats CPython prints to stderr."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        found = ALLOCATED.search(out.read())
    return int(found.group(1).replace(b",", b"")) if found else 0


def live_types(top: int = 15) -> list[tuple[str, int, int]]:
    """(type, count, bytes) of the live objects outside the frozen start-up heap, largest
    first: those the collector tracks and the strings, bytes and numbers they hold."""
    tracked = gc.get_objects()
    seen = {id(o) for o in tracked}
    held = []
    for o in tracked:
        for r in gc.get_referents(o):
            if id(r) not in seen and not gc.is_tracked(r):
                seen.add(id(r))
                held.append(r)
    size: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for o in tracked + held:
        size[type(o).__name__] += sys.getsizeof(o)
        count[type(o).__name__] += 1
    return [(name, count[name], total) for name, total in size.most_common(top)]


def sample(lab: ServerProcess, types: bool = False) -> dict[str, Any]:
    """The lab's `/bench/memory` report, with its VmRSS (from /proc) at that moment."""
    with urllib.request.urlopen(
        f"{lab.url}/bench/memory{'?types=1' if types else ''}", timeout=60
    ) as r:
        report: dict[str, Any] = json.load(r)
    report["rss_kib"] = lab.status_kib("VmRSS")
    return report


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--answers", type=int, default=1000)
    cli.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    cli.add_argument("--types-at", type=float, default=12.0, help="seconds into the row")
    cli.add_argument("--limit", type=float, default=20.0, help="seconds of reading")
    args = cli.parse_args()
    print(f"{args.answers} answers x 1 reader, pace {PACE * 1000:.0f} ms; {machine_note()}")
    with (
        ServerProcess(lab_runner, {"token_delay": PACE, "head_timeout": 60.0}) as model,
        ServerProcess(measured_lab, {"token_delay": PACE, "db_path": "bench.db"}, model.url) as lab,
    ):
        idle = sample(lab)
        samples: list[tuple[float, dict[str, Any]]] = []
        done = threading.Event()
        started = time.monotonic()

        def watch() -> None:
            types_due = True
            while not done.wait(args.every):
                at = time.monotonic() - started
                types = types_due and at >= args.types_at
                samples.append((at, sample(lab, types)))
                types_due = types_due and not types

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        outcome = read_row([lab], model, args.answers, 1, args.limit)
        done.set()
        watcher.join()
    done = sum(r.done for r in outcome.readings)
    print(f"{done}/{args.answers} done; the row's readers start about 3 s in")
    mib = 1 << 20
    rows = [
        (
            f"{at:.0f}",
            f"{s['rss_kib'] / 1024:.0f}",
            f"{(s['rss_kib'] - idle['rss_kib']) / args.answers:.0f}",
            f"{s['allocated'] / mib:.0f}",
            f"{(s['allocated'] - idle['allocated']) / 1024 / args.answers:.0f}",
        )
        for at, s in samples
    ]
    print_table(
        [("s", 4), ("RSS MiB", 8), ("+KiB/answer", 12), ("live MiB", 9), ("+KiB/answer", 12)],
        [
            ("idle", f"{idle['rss_kib'] / 1024:.0f}", "", f"{idle['allocated'] / mib:.0f}", ""),
            *rows,
        ],
    )
    typed = [(at, s["types"]) for at, s in samples if "types" in s]
    if typed:
        at, types = typed[0]
        print(f"\nlive objects at {at:.0f} s, by type (the start-up heap, frozen, left out):")
        print_table(
            [("type", 20), ("count", 9), ("MiB", 7), ("B/answer", 9)],
            [(n, c, f"{b / mib:.1f}", f"{b / args.answers:.0f}") for n, c, b in types],
        )
    print(
        "\nRSS: the server's VmRSS; live: pymalloc's bytes in allocated blocks (objects of up to"
        "\n512 bytes); +KiB/answer: its growth since idle, per answer of the row."
    )


if __name__ == "__main__":
    main()

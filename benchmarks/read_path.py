"""How much of `sse_lab` does serving one answer run?

Serving one answer (`POST /new` to its `done`, with the built-in model aside) runs N lines
of `sse_lab` in M modules: the lines executed under coverage for one answer, minus those
that starting and stopping the server run. Two traced runs in this process give them:

1. the baseline: `start_server()`, wait until it is idle, `stop()`;
2. the same with one answer in between: `POST /new` as alice, then `GET /sse/{id}` read to
   its `done` event on the same connection, with httpx (no client of `sse_lab`'s, whose
   lines would count).

The answer's lines are run 2's minus run 1's, without the built-in model's modules
(`model/`, and `server/openai_api.py`, its `/v1` route). The server calls that model over
HTTP, so what the model's request runs in the rest of the server (the middlewares, the
request log) counts, as it would for a remote provider. A line is one that coverage saw
run: a statement spread over several lines counts each line on which it did work.

The same lines ran in every run, in one process and in several; an answer in a fresh
process and one after another answer ran the same lines too. Timers that could add lines
do not fire within one answer: the 15 s heartbeat, the head timeout (10 s), the close of an
idle kept-alive connection.

The hand count before this script was 436 lines in 13 modules (store 82, answers 68,
feeds 57, sse 56, chat 40, streams 36, request_log 25, auth 22, bodies 21, protocol 20,
stream_tokens 6, errors 2, launch 1). On the code of that time (ccc82e6) this script finds
the same figures for each module but two: launch 0, as the harness's own call of
`LabServer.auth_header` is in both runs here; protocol 21, as the GET here reuses the POST's
connection, which arms its head timer in `data_received` (with a connection per request,
as the hand count presumably had, that line does not run: protocol 20). Since then, masking
the credential headers moved into `auth.mask_header`, which checks each header's name (auth
+3, request_log -2); the model's request asks for `Accept: text/event-stream` (answers +1);
and an end's `kept` is built on a line of its own (feeds +1). Later counts, and what changed
them, are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import coverage
import httpx

import sse_lab
from sse_lab import LabServer, start_server

PACKAGE = Path(sse_lab.__file__).parent
MODEL_ASIDE = ("model/", "server/openai_api.py")  # the built-in model (path prefixes)
PROMPT = "What is Server-Sent Events?"
Lines = dict[str, set[int]]  # module path relative to sse_lab/ -> line numbers run


def traced(action: Callable[[], None]) -> Lines:
    """The lines of `sse_lab` that `action` runs, in any thread (coverage traces them all)."""
    cov = coverage.Coverage(data_file=None, include=[f"{PACKAGE}/*"], config_file=False)
    cov.start()
    try:
        action()
    finally:
        cov.stop()
    data = cov.get_data()
    lines: Lines = {}
    for filename in data.measured_files():
        lines[Path(filename).relative_to(PACKAGE).as_posix()] = set(data.lines(filename) or ())
    return lines


def wait_idle(server: LabServer) -> None:
    """Wait until no answer runs and no stream is open, then for the log to settle."""
    deadline = time.monotonic() + 30
    while server.running_answers() or server.open_streams() or server.open_model_streams():
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not go idle within 30 s")
        time.sleep(0.05)
    time.sleep(0.2)  # what runs after a stream closes: its request's log entry, the cleanup


def one_answer(url: str, headers: dict[str, str]) -> None:
    """`POST /new` at `url` with `headers` (a user's token), then read `GET /sse/{id}` until
    its `done` event."""
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        created = client.post("/new", json={"prompt": PROMPT})
        created.raise_for_status()
        stream_url = created.json()["stream_url"]
        with client.stream("GET", stream_url, headers={"Accept": "text/event-stream"}) as stream:
            stream.raise_for_status()
            for line in stream.iter_lines():
                if line == "event: done":
                    return
    raise RuntimeError("the stream ended before its done event")


def served(with_answer: bool) -> Callable[[], None]:
    """A run: start the lab server, serve one answer if asked, wait until idle, stop it."""

    def run() -> None:
        server = start_server()
        headers = server.auth_header("alice")  # in both runs: the harness's own line cancels out
        try:
            if with_answer:
                one_answer(server.url, headers)
            wait_idle(server)
        finally:
            server.stop()

    return run


def read_path() -> dict[str, int]:
    """Lines that serving one answer runs, by module (relative to sse_lab/), most first."""
    baseline = traced(served(with_answer=False))
    answer = traced(served(with_answer=True))
    counts = {
        module: len(lines - baseline.get(module, set()))
        for module, lines in answer.items()
        if not module.startswith(MODEL_ASIDE)
    }
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {module: count for module, count in ordered if count}


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--json", action="store_true", help="print the same as JSON")
    args = cli.parse_args()
    counts = read_path()
    total = sum(counts.values())
    if args.json:
        print(json.dumps({"modules": counts, "lines": total, "module_count": len(counts)}))
        return
    width = max(len(module) for module in counts)
    print(f"{'module':<{width}}  lines")
    for module, count in counts.items():
        print(f"{module:<{width}}  {count:>5}")
    print(f"one answer runs {total} lines of sse_lab in {len(counts)} modules")


if __name__ == "__main__":
    main()

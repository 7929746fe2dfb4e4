"""How fast does `EventStreamParser` read a long chat stream, next to the Python SSE clients?

Builds a deterministic stream like a chat answer's (token deltas with ids, OpenAI-style
`chat.completion.chunk` events, multi-line `event:` events, heartbeat comments), cuts it
into network-sized chunks and prints the throughput of each parser: CPU time, so that other
work on the machine does not skew it, best of a few runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable, Iterator

import httpx._decoders
import httpx_sse._decoders
import openai._streaming
import sseclient

from sse_lab.sse import EventStreamParser, ServerSentEvent, encode_comment

Counter = Callable[[list[bytes]], int]

TEXT = (
    "the stream of an answer arrives token by token while the model is still thinking "
    "so a reader sees words appear soon and never waits for the whole reply server sent "
    "events carry each piece over one long HTTP response élan naïve façade 東京 😀"
)
WORDS = TEXT.split()


def build_stream(size_bytes: int, seed: int = 2024) -> bytes:
    """A realistic `text/event-stream` body of about `size_bytes`, the same for a given seed."""
    rng = random.Random(seed)
    parts = [b"retry: 3000\n\n"]
    size = len(parts[0])
    event_id = 0
    while size < size_bytes:
        roll = rng.random()
        event_id += 1
        word = " " + rng.choice(WORDS)
        if roll < 0.80:
            part = ServerSentEvent(data=json.dumps({"delta": word}), id=str(event_id)).encode()
        elif roll < 0.95:
            part = ServerSentEvent(data=_completion_chunk(event_id, word)).encode()
        elif roll < 0.98:
            lines = [" ".join(rng.choices(WORDS, k=12)) for _ in range(rng.randint(2, 6))]
            part = ServerSentEvent(data="\n".join(lines), event="note", id=str(event_id)).encode()
        else:
            part = encode_comment("ping") + b"\n"
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _completion_chunk(n: int, word: str) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-9x7Ab3Kq2LmNoPqRsTuVwXyZ0",
            "object": "chat.completion.chunk",
            "created": 1718000000 + n // 50,
            "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_0123456789",
            "choices": [
                {"index": 0, "delta": {"content": word}, "logprobs": None, "finish_reason": None}
            ],
        },
        separators=(",", ":"),
    )


def split(stream: bytes, size: int) -> list[bytes]:
    """The stream as the network might deliver it: fixed-size chunks, cutting anywhere."""
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def count_ours(chunks: list[bytes]) -> int:
    parser = EventStreamParser()
    return sum(1 for chunk in chunks for event in parser.feed(chunk) if event.data)


def count_httpx_sse(chunks: list[bytes]) -> int:
    """As `httpx_sse.EventSource.iter_sse` does over `response.iter_text()`."""
    text_decoder = httpx._decoders.TextDecoder()
    lines = httpx_sse._decoders.SSELineDecoder()
    decoder = httpx_sse._decoders.SSEDecoder()
    count = 0
    for chunk in chunks:
        for line in lines.decode(text_decoder.decode(chunk)):
            event = decoder.decode(line.rstrip("\n"))
            if event is not None and event.data:
                count += 1
    return count


def count_openai(chunks: list[bytes]) -> int:
    events = openai._streaming.SSEDecoder().iter_bytes(iter(chunks))
    return sum(1 for event in events if event.data)


def count_sseclient(chunks: list[bytes]) -> int:
    chunk_source: Iterator[bytes] = iter(chunks)
    client = sseclient.SSEClient(chunk_source)
    return sum(1 for event in client.events() if event.data)


PARSERS: dict[str, Counter] = {
    "sse_lab EventStreamParser": count_ours,
    "httpx-sse SSEDecoder": count_httpx_sse,
    "openai SSEDecoder": count_openai,
    "sseclient-py SSEClient": count_sseclient,
}

NOTES = (
    "events: dispatched events with non-empty data. httpx-sse and openai also dispatch an\n"
    "empty event at a blank line with no data once an id was seen (after each heartbeat);\n"
    "the spec dispatches nothing there, so those are left out of every count."
)


def best_times(chunks: list[bytes], runs: int) -> dict[str, tuple[float, int]]:
    """Each parser's fastest of `runs` parses, in CPU seconds, and the events it counted.
    The parsers take turns run by run, so that a busy moment of the machine hits all alike."""
    best = dict.fromkeys(PARSERS, (float("inf"), 0))
    for _ in range(runs):
        for name, count in PARSERS.items():
            start = time.process_time()
            events = count(chunks)
            best[name] = min(best[name], (time.process_time() - start, events))
    return best


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--size-mb", type=float, default=20.0, help="stream size (default 20)")
    cli.add_argument("--runs", type=int, default=3, help="runs per parser, best kept (default 3)")
    args = cli.parse_args()
    stream = build_stream(int(args.size_mb * 1_000_000))
    megabytes = len(stream) / 1_000_000
    load = os.getloadavg()[0]
    print(f"stream: {megabytes:.1f} MB, best of {args.runs} runs; load average {load:.2f}\n")
    for chunk_size in (4 * 1024, 64 * 1024):
        chunks = split(stream, chunk_size)
        print(f"chunks of {chunk_size // 1024} KiB ({len(chunks)} chunks)")
        print(f"{'parser':<28}{'MB/s':>8}{'events':>10}{'vs ours':>9}")
        found = best_times(chunks, max(1, args.runs))
        ours = megabytes / found["sse_lab EventStreamParser"][0]
        for name, (seconds, events) in found.items():
            speed = megabytes / seconds
            print(f"{name:<28}{speed:>8.1f}{events:>10}{speed / ours:>8.2f}x")
        httpx_sse = found["httpx-sse SSEDecoder"][0] / found["sse_lab EventStreamParser"][0]
        print(f"sse_lab / httpx-sse: {httpx_sse:.2f}x (goal: >= 1.5x)")
        print()
    print(NOTES)


if __name__ == "__main__":
    main()

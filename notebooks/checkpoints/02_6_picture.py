# Checkpoint: 02-reconnection, up to "## 6. A picture of the reconnections"
# Does what the cells above did, so that you can go on from this section: the lab server,
# and the two flaky streams read with retry: 300 (`source`, `arrived`) and retry: 1000
# (`slow_source`, `slow_arrived`). Run it in a new cell:
# `%load checkpoints/02_6_picture.py`, then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any

import json
import time

import aiohttp
import httpx
import matplotlib.pyplot as plt

from sse_lab import EventSource, EventSourcePolyfill, start_server
from sse_lab.model import answer_tokens

STATE = {EventSource.CONNECTING: "CONNECTING", EventSource.OPEN: "OPEN", EventSource.CLOSED: "CLOSED"}
TICK = 0.02


def gaps(source):
    """Seconds between the end of each attempt and the start of the next one."""
    attempts = source.attempts
    return [later.started - earlier.ended for earlier, later in zip(attempts, attempts[1:])]


async def watch(url):
    """Read a stream with EventSource until it closes; the source and (time, event) pairs."""
    source, arrived = EventSource(url), []
    async with source:
        async for event in source:
            arrived.append((time.monotonic(), event))
    return source, arrived


lab = start_server(token_delay=0.01, retry_ms=300)
flaky_url = lab.url + "/sse?count=8&interval_ms=50&drop_after=3"
source, arrived = await watch(flaky_url)
with start_server(retry_ms=1000) as slow_lab:
    slow_source, slow_arrived = await watch(slow_lab.url + "/sse?count=8&interval_ms=50&drop_after=3")
print("caught up: the lab server runs at", lab.url)
print("events read:", len(arrived), "with retry: 300,", len(slow_arrived), "with retry: 1000")

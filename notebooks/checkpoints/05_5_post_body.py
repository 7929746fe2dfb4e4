# Checkpoint: 05-polyfills, up to "## 5. A `POST` with a body: `fetch_event_source`"
# Does what the cells above did, so that you can go on from this section: the lab server,
# alice's answer at `stream_url`, and the flaky demo stream at `flaky_url`. Run it in a
# new cell: `%load checkpoints/05_5_post_body.py`, then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any

import json
import textwrap

import aiohttp
import httpx
import openai

from sse_lab import (
    EventSource,
    EventSourcePolyfill,
    EventStreamParser,
    SSEResponseError,
    fetch_event_source,
    start_server,
)

lab = start_server(token_delay=0.01, retry_ms=300)
created = httpx.post(
    lab.url + "/new", json={"prompt": "How does reconnect work?"}, headers=lab.auth_header("alice")
)
stream_url = lab.url + created.json()["stream_url"]
flaky_url = lab.url + "/sse?count=6&interval_ms=20&drop_after=3"
print("caught up: the lab server runs at", lab.url)

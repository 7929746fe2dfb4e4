# Checkpoint: 04-eventsource-limits, up to "## 5. Where does it break? Measure it"
# Does what the cells above did, so that you can go on from this section: the lab server,
# alice's answer `created`, and `ask_status(http, prompt)`. Run it in a new cell:
# `%load checkpoints/04_5_measure.py`, then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any

import json
import textwrap
from urllib.parse import urlencode

import aiohttp
import httpx

from sse_lab import EventSource, start_server

lab = start_server(token_delay=0.01)
created = httpx.post(
    lab.url + "/new", json={"prompt": "What is SSE?"}, headers=lab.auth_header("alice")
)
stream_url = lab.url + created.json()["stream_url"]


async def ask_status(http: aiohttp.ClientSession, prompt: str) -> int:
    """The status of `GET /ask` for this prompt (the stream itself is left unread)."""
    async with http.get(lab.url + "/ask?" + urlencode({"prompt": prompt})) as response:
        return response.status


print("caught up: the lab server runs at", lab.url)

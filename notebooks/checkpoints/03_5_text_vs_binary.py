# Checkpoint: 03-sse-vs-websockets, up to "## 5. Text vs binary"
# Does what the cells above did, so that you can go on from this section: the lab server,
# an HTTP session `http` and `new_answer(prompt)`. Run it in a new cell:
# `%load checkpoints/03_5_text_vs_binary.py`, then run the cell again.
if "lab" in globals():
    await http.close()
    lab.stop()  # the server this notebook started before, if any

import base64
import hashlib
import json

import aiohttp

from sse_lab import EventStreamParser, ServerSentEvent, fetch_event_source, start_server
from sse_lab.model import answer_tokens

lab = start_server(token_delay=0.01)
PROMPT = "How does a WebSocket differ from an EventSource?"
http = aiohttp.ClientSession()


async def new_answer(prompt):
    """`POST /new`: the server stores the prompt and starts its answer; the answer's id."""
    url, body = lab.url + "/new", {"prompt": prompt}
    async with http.post(url, json=body, headers=lab.auth_header()) as response:
        return (await response.json())["id"]


print("caught up: the lab server runs at", lab.url)

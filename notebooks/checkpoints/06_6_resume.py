# Checkpoint: 06-post-then-sse, up to "## 6. Resume after a drop"
# Does what the cells above did, so that you can go on from this section: the lab server
# on chat.db in a new temporary folder, `alice`'s header, `post_prompt(prompt)` and the
# database connection `db`.
# Run it in a new cell: `%load checkpoints/06_6_resume.py`, then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any
if "db" in globals():
    db.close()

import asyncio
import json
import shutil
import sqlite3
import tempfile
import textwrap
from pathlib import Path

import aiohttp
import httpx

from sse_lab import EventSource, fetch_event_source, start_server
from sse_lab.lab.widgets import ChatView
from sse_lab.model import answer_tokens

folder = Path(tempfile.mkdtemp(prefix="sse-lab-06-"))
chat_db = str(folder / "chat.db")
lab = start_server(token_delay=0.03, retry_ms=500, db_path=chat_db)
alice = lab.auth_header("alice")
db = sqlite3.connect(chat_db)


async def post_prompt(prompt: str) -> str:
    """Step one as alice: POST /new; the new answer's stream URL."""
    async with (
        aiohttp.ClientSession(headers=alice) as http,
        http.post(lab.url + "/new", json={"prompt": prompt}) as response,
    ):
        return lab.url + (await response.json())["stream_url"]


print("caught up: the lab server runs at", lab.url)

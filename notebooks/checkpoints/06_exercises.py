# Checkpoint: 06-post-then-sse, up to "## Exercises"
# Does what the cells above did, so that you can go on from this section: the lab server
# on chat.db in a new temporary folder, the database connection `db` and the `openai`
# client `client` (the last cell closes both). Run it in a new cell:
# `%load checkpoints/06_exercises.py`, then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any
if "db" in globals():
    db.close()

import shutil
import sqlite3
import tempfile
from pathlib import Path

import openai

from sse_lab import start_server

folder = Path(tempfile.mkdtemp(prefix="sse-lab-06-"))
chat_db = str(folder / "chat.db")
lab = start_server(token_delay=0.03, retry_ms=500, db_path=chat_db)
db = sqlite3.connect(chat_db)
client = openai.AsyncOpenAI(base_url=lab.url + "/v1", api_key="anything")
print("caught up: the lab server runs at", lab.url)

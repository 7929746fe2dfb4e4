# Checkpoint: 02-reconnection, up to "## 8. A chat answer resumes from any event"
# Does what the cells above did, so that you can go on from this section. Run it in a
# new cell: `%load checkpoints/02_8_chat_answer.py`, then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any

import json
import time

import httpx

from sse_lab import EventSource, EventSourcePolyfill, start_server
from sse_lab.model import answer_tokens

lab = start_server(token_delay=0.01, retry_ms=300)
print("caught up: the lab server runs at", lab.url)

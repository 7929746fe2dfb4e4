# Checkpoint: 08-real-chat-apps, up to "## Exercises"
# Does what the notebook's first cell did, so that you can go on from this section: the lab
# server `lab`, alice's header in `alice`, the names the exercises use, and no nginx or
# Chromium left over (the checks start their own lab servers). Run it in a new cell:
# `%load checkpoints/08_exercises.py`, then run the cell again.
import json

import aiohttp

from sse_lab import ServerSentEvent, fetch_event_source, start_server
from sse_lab.services.process import running_services, stop_all

stop_all()  # whatever nginx the cells above left running
for server in globals().get("lab_servers", []):
    server.stop()
if globals().get("chromium") is not None:
    await chromium.close()
chromium = None

lab = start_server(token_delay=0.05)
lab_servers = [lab]
alice = lab.auth_header("alice")
print("caught up: the lab server runs at", lab.url)

# Checkpoint: 00-welcome, up to "## 3. A first streamed answer"
# Does what the cells above did, so that you can go on from this section. Run it in a
# new cell: `%load checkpoints/00_3_first_answer.py`, then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any

import httpx

from sse_lab import start_server

lab = start_server()
print("caught up: the lab server runs at", lab.url)

# Checkpoint: 01-sse-basics, up to "## 4. Event types: `onmessage` vs `addEventListener`"
# Does what the cells above did, so that you can go on from this section. Run it in a
# new cell: `%load checkpoints/01_4_event_types.py`, then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any

import json
import time
from urllib.parse import urlencode

import aiohttp
import matplotlib.pyplot as plt
from IPython.display import display

from sse_lab import (
    EventSource,
    EventStreamParser,
    ServerSentEvent,
    encode_comment,
    encode_retry,
    fetch_event_source,
    start_server,
)
from sse_lab.lab.plots import plot_arrivals
from sse_lab.lab.widgets import EventLog

lab = start_server()
print("caught up: the lab server runs at", lab.url)

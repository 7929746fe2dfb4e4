# Checkpoint: 07-sse-in-production, up to "## Exercises"
# Does what the notebook's first cell did, so that you can go on from this section: the lab
# server `lab`, alice's header in `alice`, and no nginx, worker, Redis or Chromium left over
# (the checks start their own). Run it in a new cell: `%load checkpoints/07_exercises.py`,
# then run the cell again.
from sse_lab import start_server
from sse_lab.services.process import running_services, stop_all

stop_all()  # whatever nginx, workers or Redis the cells above left running
for server in globals().get("lab_servers", []):
    server.stop()
if globals().get("chromium") is not None:
    await chromium.close()
chromium = None

lab = start_server(token_delay=0.02)
lab_servers = [lab]
alice = lab.auth_header("alice")
print("caught up: the lab server runs at", lab.url)

# Checkpoint: 04-eventsource-limits, up to "## 6. Why a token in a URL leaks"
# Does what the cells above did, so that you can go on from this section: the lab server,
# alice's answer `created`, and the plain aiohttp server (`plain_url`, its access log
# `plain_log`, `plain_runner`). Run it in a new cell: `%load checkpoints/04_6_token_leak.py`,
# then run the cell again.
if "lab" in globals():
    lab.stop()  # the server this notebook started before, if any

import json
import logging
import textwrap
from urllib.parse import urlencode

import aiohttp
import httpx
from aiohttp import web
from aiohttp.web_log import AccessLogger

from sse_lab import EventSource, start_server

lab = start_server(token_delay=0.01)
created = httpx.post(
    lab.url + "/new", json={"prompt": "What is SSE?"}, headers=lab.auth_header("alice")
)


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


plain = web.Application()
plain.router.add_get("/{path:.*}", hello)
plain_log = logging.getLogger("plain-aiohttp.access")
plain_runner = web.AppRunner(
    plain, access_log=plain_log, access_log_format=AccessLogger.LOG_FORMAT.replace("%t ", "")
)
await plain_runner.setup()
await web.TCPSite(plain_runner, "127.0.0.1", 0).start()
plain_url = f"http://127.0.0.1:{plain_runner.addresses[0][1]}"
print("caught up: the lab server runs at", lab.url)

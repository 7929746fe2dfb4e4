"""Start and stop the whole lab server from a notebook cell (or a test, or the command line).

The server runs on an event loop of its own in a daemon thread: the kernel's loop stays
free, so both `await`-style clients and blocking ones (httpx, requests) work from a cell.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from sse_lab.config import Settings
from sse_lab.server.app import create_app, runner_for
from sse_lab.server.state import ANSWERS, MODEL_STREAMS, OPEN_STREAMS, REQUEST_LOG
from sse_lab.startup import http_url, listen


def bind(
    settings: Settings, host: str = "127.0.0.1", port: int = 0
) -> tuple[socket.socket, str, Settings]:
    """A listening socket, its URL, and the settings with the upstream defaulting to this
    server; StartupError (one line) if it cannot listen there."""
    sock = listen(host, port)
    url = http_url(host, sock.getsockname()[1])
    if settings.upstream.base_url is None:
        settings = replace(settings, upstream=replace(settings.upstream, base_url=f"{url}/v1"))
    return sock, url, settings


def browser_address(url: str, environ: Mapping[str, str]) -> str:
    """Where a learner's browser reaches the server at `url` (http://127.0.0.1:PORT).

    On a local machine, `url` itself. Under a JupyterHub (or Binder), whose single-user server
    sets JUPYTERHUB_SERVICE_PREFIX, the browser is elsewhere and 127.0.0.1 is its own machine:
    the address is the Jupyter server's proxy (jupyter-server-proxy), `{prefix}proxy/PORT/`,
    made absolute with the hub's JUPYTERHUB_PUBLIC_URL when the hub knows its public URL, else
    a path, which works as a link clicked in JupyterLab, on the hub's own host.
    """
    prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if not prefix:
        return f"{url}/"
    proxied = f"proxy/{url.rsplit(':', 1)[1]}/"
    public = environ.get("JUPYTERHUB_PUBLIC_URL")
    return f"{public.rstrip('/')}/{proxied}" if public else f"{prefix.rstrip('/')}/{proxied}"


@dataclass
class LabServer:
    """A running lab server: where it is, who may use it, what it saw; `stop()` ends it."""

    url: str
    settings: Settings
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _runner: web.AppRunner = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def browser_url(self) -> str:
        """The chat page's address for a learner's browser: `url + "/"` on a local machine,
        the Jupyter server's `.../proxy/PORT/` under a JupyterHub (see `browser_address`)."""
        return browser_address(self.url, os.environ)

    @property
    def tokens(self) -> dict[str, str]:
        """The demo users' bearer tokens, by user name."""
        return dict(self.settings.users)

    def auth_header(self, user: str = "alice") -> dict[str, str]:
        """`{"Authorization": "Bearer ..."}` for one of the users."""
        return {"Authorization": f"Bearer {self.settings.users[user]}"}

    def seen_requests(self, path: str = "") -> list[dict[str, Any]]:
        """The recent requests as the server saw them (secrets masked), newest last."""
        log = self._runner.app[REQUEST_LOG]
        return [r for r in list(log) if r["url"].startswith(path)]

    def open_model_streams(self) -> int:
        """How many streams the built-in model is writing right now."""
        return len(self._runner.app[MODEL_STREAMS])

    def running_answers(self) -> int:
        """How many answers are being generated right now."""
        return self._runner.app[ANSWERS].running

    def open_streams(self) -> int:
        """How many SSE responses the server is writing right now."""
        return len(self._runner.app[OPEN_STREAMS])

    def task_names(self) -> list[str]:
        """The names of the tasks on the server's event loop right now: `answer ID` generates
        an answer, `follow ID` reads one for a stream of several (`/answers/events`)."""

        async def names() -> list[str]:
            return sorted(task.get_name() for task in asyncio.all_tasks())

        return asyncio.run_coroutine_threadsafe(names(), self._loop).result(timeout=10)

    @property
    def running(self) -> bool:
        """Whether the server is still serving."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Close every stream and connection, then the loop; safe to call twice."""
        if not self.running:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# The servers start_server started, with the arguments each was started with.
_STARTED: list[tuple[tuple[object, ...], LabServer]] = []
_STARTED_LOCK = threading.Lock()


def start_server(
    settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = 0, **changes: Any
) -> LabServer:
    """Start the lab server on a free port; `changes` override Settings fields, e.g.
    `start_server(token_delay=0.05, db_path="lab.db")`.

    A call with the same arguments as a server that still runs (re-running a notebook's start
    cell) first stops that earlier server, and prints one line saying so: one cell, one
    server. So does a call for the same explicit port. Calls with other arguments start
    servers side by side, as notebook 02 runs a slower second server next to the first.
    """
    arguments = (settings, host, port, changes)
    with _STARTED_LOCK:
        _STARTED[:] = [(args, server) for args, server in _STARTED if server.running]
        earlier = [
            s for args, s in _STARTED if args == arguments or (port and args[1:3] == (host, port))
        ]
    for server in earlier:
        server.stop()
        print(f"start_server: stopped the earlier lab server at {server.url}; this one replaces it")
    server = _start(settings, host, port, changes)
    with _STARTED_LOCK:
        _STARTED.append((arguments, server))
    return server


def _start(settings: Settings | None, host: str, port: int, changes: dict[str, Any]) -> LabServer:
    sock, url, settings = bind(replace(settings or Settings(), **changes), host, port)
    runner = runner_for(create_app(settings))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sse-lab-server", daemon=True)
    thread.start()

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()

    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        sock.close()
        raise
    return LabServer(url, settings, loop, runner, thread)

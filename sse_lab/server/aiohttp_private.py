"""Every use of aiohttp's private names, in one place: the guards of `protocol.py` need to
know where a connection stands, and to choose the class of aiohttp's connection handlers,
which aiohttp's public API offers neither of. The quiet close after a stream's end, built on
that state, is here too: `close_if_quiet`, the one hook `streams.py` calls. Nothing else in
the package touches a private name of aiohttp (tests/test_aiohttp_private.py checks).

The private names used, and why:

- `RequestHandler._request_in_progress`: true while a request's handler runs. A request
  head's timer must not fire then, nor may a quiet close cut the connection.
- `RequestHandler._messages`: the requests parsed but not yet handled. Not empty means a
  whole request head has arrived: its timer stops.
- `RequestHandler._request_count`: the requests received on the connection so far. The same
  count `seconds` after a stream's end means the client sent no next request.
- `Server._kwargs` and `Server._loop`: the arguments (timeouts, sizes, the access log) and
  the loop that aiohttp's own `Server.__call__` gives each handler; a server that makes
  handlers of another class must give them the same.
- `AppRunner._make_server`: where AppRunner builds its Server, after the app's start-up: the
  one place to change the handler class, which aiohttp has no argument for.

Checked in the source of aiohttp 3.10.6 (the first with `_request_in_progress`), 3.11.0
and 3.14.5 (the locked version, which the tests run on). pyproject.toml allows aiohttp from
3.10.6 up to, not including, the next minor version: a new minor version needs this module
checked against its source, and tests/test_faults.py run on it, before the bound moves.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler


class ConnectionHandler(RequestHandler):
    """aiohttp's connection handler, with where the connection stands readable."""

    @property
    def handling(self) -> bool:
        """Whether a request's handler is running on this connection."""
        return self._request_in_progress

    @property
    def head_received(self) -> bool:
        """Whether a whole request head has arrived whose request is not finished yet."""
        return self._request_in_progress or bool(self._messages)

    @property
    def requests_received(self) -> int:
        """How many requests the client has sent on this connection so far."""
        return self._request_count


def close_if_quiet(request: web.BaseRequest, seconds: float) -> None:
    """Close the request's connection in `seconds` unless its client sends another request on
    it by then; abort it if the client has not even taken the last response. Only for the
    connections of a HandlerRunner: others keep aiohttp's keep-alive as it is."""
    handler = request.protocol
    if isinstance(handler, ConnectionHandler):
        requests = handler.requests_received
        asyncio.get_running_loop().call_later(seconds, _close_if_quiet, handler, requests)


def _close_if_quiet(handler: ConnectionHandler, requests: int) -> None:
    transport = handler.transport
    if transport is None or handler.requests_received != requests or handler.handling:
        return
    if unsent(transport):
        transport.abort()  # frees the kernel's buffers too, not only the descriptor
    handler.force_close()


def unsent(transport: asyncio.Transport) -> int:
    """Bytes written to the client that it has not taken yet: in asyncio's buffer, and (on
    Linux, SIOCOUTQ) in the kernel's send queue, which empties only as the client reads."""
    held = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sys.platform != "linux" or sock is None:
        return held
    import fcntl
    import termios

    try:
        queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")  # = SIOCOUTQ
    except OSError:
        return held
    return held + int(struct.unpack("i", queued)[0])


class HandlerRunner(web.AppRunner):
    """An AppRunner whose connections' handlers come from `make_handler`."""

    def make_handler(self, server: web.Server, **kwargs: Any) -> ConnectionHandler:
        """A new connection's handler, given aiohttp's arguments; subclasses make their own."""
        return ConnectionHandler(server, **kwargs)

    async def _make_server(self) -> web.Server:
        return _HandlerServer(await super()._make_server(), self)


class _HandlerServer(web.Server):
    """aiohttp's Server (the protocol factory a site listens with), built from the one that
    AppRunner made for the app, with the same arguments, making its runner's handlers."""

    def __init__(self, server: web.Server, runner: HandlerRunner) -> None:
        super().__init__(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            **server._kwargs,
        )
        self._lab_runner = runner

    def __call__(self) -> RequestHandler:
        return self._lab_runner.make_handler(self, loop=self._loop, **self._kwargs)

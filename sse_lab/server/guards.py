"""Each HTTP connection's handler: aiohttp's own, guarded against clients that misbehave.

Three things happen before any middleware could see a request, and one after a stream's
end, in aiohttp's RequestHandler, so they are changed there, in a subclass (`GuardedHandler`
of `ConnectionHandler`, which reads the connection's state where aiohttp keeps it, in
private names):

- a request aiohttp's parser refuses (a bad chunk size, Content-Length with
  Transfer-Encoding, a 2 MB request line, NUL in a header, HTTP/9.9) reaches
  `handle_error`, which would answer with the parser's message (quoting the request, token
  and all) and log a traceback; here it gets the JSON error every route gives, and one line;
- a client must send a whole request head within `head_timeout` seconds of connecting (or
  of its first byte after a response), or it is answered 408 and closed: connections that
  trickle their headers a byte at a time cannot pile up;
- a connection whose descriptor lies within `fd_margin` of the process's open-file limit is
  answered 503 and closed at once: the descriptors left keep the database, the model's
  connections and everyone's next requests working;
- after a stream's end, `close_if_quiet` (the one hook `streams.py` calls) lets the
  connection wait for the client's next request only so long: a reader that never reads
  holds no socket (nor buffers) for long.

Refusals come in bursts (a thousand slow clients time out together), so they are logged
once, then counted: one line per `BurstLog.every` seconds at most.

Every use of aiohttp's private names is in this module: the guards need to know where a
connection stands, and to choose the class of aiohttp's connection handlers, which
aiohttp's public API offers neither of. Nothing else in the package touches a private name
of aiohttp (tests/test_aiohttp_private_names.py checks).

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
import json
import logging
import struct
import sys
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from sse_lab.burst_log import BurstLog
from sse_lab.server.bodies import error_response

log = logging.getLogger("sse_lab.server")

# aiohttp's connection state, read where aiohttp keeps it (the private names above).


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


# The guards.

# What each kind of parser error means, in a sentence that quotes nothing of the request.
_PARSE_ERRORS = {
    "LineTooLong": "a request line or header is too long",
    "BadStatusLine": "the request line is not an HTTP/1.x request line",
    "BadHttpMethod": "the request line is not an HTTP/1.x request line",
    "InvalidHeader": "a header is not valid",
    "TransferEncodingError": "the chunked body is not valid",
    "ContentLengthError": "the body does not match its Content-Length",
}


def open_file_limit() -> int | None:
    """The process's soft limit on open files (None: unlimited, or not a Unix)."""
    if sys.platform == "win32":
        return None
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


class Guard:
    """What every connection's handler shares: the bounds, and the log of refusals."""

    def __init__(self, head_timeout: float, fd_limit: int | None, fd_margin: int) -> None:
        self.head_timeout = head_timeout
        self.max_fd = None if fd_limit is None else fd_limit - fd_margin
        self.refusals = BurstLog(log)


def raw_error(status: int, reason: str, message: str) -> bytes:
    """A whole JSON error response, for a connection that gets no request object."""
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


BUSY = raw_error(503, "Service Unavailable", "the server has too many connections; try again")
TOO_SLOW = raw_error(408, "Request Timeout", "the request's headers took too long to arrive")


class GuardedHandler(ConnectionHandler):
    """aiohttp's connection handler with the guards of this module."""

    def __init__(self, manager: web.Server, guard: Guard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        max_fd = self._guard.max_fd
        # Descriptors are handed out lowest first: this one's number is how many are open.
        if max_fd is not None and sock is not None and sock.fileno() >= max_fd:
            self._refuse(BUSY, "a connection near the open-file limit", f"fd {sock.fileno()}")
            return
        self._expect_head()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and not self.head_received:
            self._expect_head()  # the first bytes of the next request on this connection
        super().data_received(data)
        if self._head_timer is not None and self.head_received:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's hook for a request its parser refused (and for a handler's crash that no
        middleware caught): a JSON error without the request's bytes; a traceback only for
        the server's own faults."""
        if request.writer.output_size > 0:  # as aiohttp: a response has begun, cut it
            raise ConnectionError("a response was being sent; it cannot become an error")
        if status >= 500:
            self.log_exception("error handling a request from %s", request.remote, exc_info=exc)
            response = error_response(status, "internal server error")
        else:
            kind = type(exc).__name__ if exc is not None else ""
            sentence = _PARSE_ERRORS.get(kind, "the request is not valid HTTP/1.1")
            self._guard.refusals.note("a malformed request", f"{sentence} ({request.remote})")
            response = error_response(status, f"malformed request: {sentence}")
        response.force_close()
        return response

    def _expect_head(self) -> None:
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(self._guard.head_timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.head_received:
            return
        timeout = self._guard.head_timeout
        self._refuse(TOO_SLOW, "a slow client", f"no request head within {timeout:g} s")

    def _refuse(self, response: bytes, kind: str, detail: str) -> None:
        transport = self.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        self._guard.refusals.note(kind, f"{detail} ({peer[0] if peer else 'unknown'})")
        if transport is not None:
            transport.write(response)
        self.force_close()


class GuardedRunner(HandlerRunner):
    """An AppRunner whose server's connections are GuardedHandlers."""

    def __init__(self, app: web.Application, guard: Guard, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._guard = guard

    def make_handler(self, server: web.Server, **kwargs: Any) -> GuardedHandler:
        """A new connection's handler: a GuardedHandler, with aiohttp's arguments."""
        return GuardedHandler(server, self._guard, **kwargs)

    async def setup(self) -> None:
        """Set up as AppRunner does; then asyncio's own complaint when accept() finds no
        descriptor left (a burst of connections can take the margin before any is
        refused) joins the burst log instead of a traceback per accept."""
        await super().setup()
        loop = asyncio.get_running_loop()
        default = loop.get_exception_handler()

        def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            if context.get("message") == "socket.accept() out of system resource":
                self._guard.refusals.note("connections, no descriptor left", "accept() failed")
            elif default is not None:
                default(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handle)

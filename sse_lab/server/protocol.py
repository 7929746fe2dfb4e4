"""Each HTTP connection's handler: aiohttp's own, guarded against clients that misbehave.

Three things happen before any middleware could see a request, in aiohttp's RequestHandler,
so they are changed there, in a subclass (of `aiohttp_private.ConnectionHandler`, which reads
the connection's state where aiohttp keeps it, in private names):

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
- after a stream's end, `aiohttp_private.close_if_quiet` lets the connection wait for the
  client's next request only so long: a reader that never reads holds no socket (nor
  buffers) for long.

Refusals come in bursts (a thousand slow clients time out together), so they are logged
once, then counted: one line per `BurstLog.every` seconds at most.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

from aiohttp import web

from sse_lab.burst_log import BurstLog
from sse_lab.server.aiohttp_private import ConnectionHandler, HandlerRunner
from sse_lab.server.errors import error_response

log = logging.getLogger("sse_lab.server")

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

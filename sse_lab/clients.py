"""SSE clients shaped like the ones a browser developer uses, on aiohttp and `sse_lab.sse`.

`EventSource` follows the WHATWG HTML EventSource processing model (GET only, no custom
headers, automatic reconnection with `Last-Event-ID`); `EventSourcePolyfill` adds headers, as
npm's event-source-polyfill does; `fetch_event_source` makes one request of any method, with a
body, as @microsoft/fetch-event-source does. They work against any SSE server.

A stream that tells its end in an event, as the lab's answers do (`done`, or `error` when the
answer failed), may end three ways: finished (a `done` event), failed (an `error` event), or
cut off (the body ended without either: a proxy, a dropped connection, a server that went
away). Each client's docstring says how its caller tells the three apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Final, Self

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from sse_lab.sse import EventStreamParser, ServerSentEvent

__all__ = [
    "Attempt",
    "EventSource",
    "EventSourcePolyfill",
    "SSEResponseError",
    "StreamCutOff",
    "fetch_event_source",
]

_EVENT_STREAM: Final = "text/event-stream"
_BODY_LIMIT: Final = 500  # bytes of an error body kept for the message
# No total time limit: a stream lasts as long as the server keeps it open.
_STREAMING: Final = aiohttp.ClientTimeout(total=None, sock_connect=30)

Listener = Callable[[ServerSentEvent], object]


class SSEResponseError(Exception):
    """The server answered, but not with an event stream: a bad status or content type."""

    def __init__(self, message: str, *, status: int, body: str) -> None:
        super().__init__(f"{message}: {body}" if body else message)
        self.status = status
        self.body = body


class StreamCutOff(aiohttp.ClientPayloadError):
    """The body ended before the stream did: the connection dropped mid-body (aiohttp's
    ClientPayloadError, which this is), or it ended before an event that ends the stream.
    `last_event_id`: the last id the stream gave, to resume from ("" for none)."""

    def __init__(self, last_event_id: str) -> None:
        after = f"after event {last_event_id}" if last_event_id else "before any event id"
        super().__init__(f"the stream was cut off {after}")
        self.last_event_id = last_event_id


@dataclass(frozen=True, slots=True)
class Attempt:
    """One connection attempt of an EventSource, for timelines (times from time.monotonic())."""

    started: float
    last_event_id: str  # sent as `Last-Event-ID`; "" means the header was not sent
    status: int | None = None  # None: no response (yet), e.g. a refused connection
    error: Exception | None = None  # None: still open, or the server ended the stream
    ended: float | None = None  # None while the connection is open


async def _ensure_event_stream(response: aiohttp.ClientResponse, *, status_ok: bool) -> None:
    """Raise SSEResponseError, with the start of the body, unless this is an event stream."""
    if status_ok and response.content_type == _EVENT_STREAM:
        return
    raw = await response.content.read(_BODY_LIMIT + 1)
    body = raw[:_BODY_LIMIT].decode(errors="replace") + ("…" if len(raw) > _BODY_LIMIT else "")
    if status_ok:
        got = response.headers.get("Content-Type")
        message = f"HTTP {response.status}: expected {_EVENT_STREAM}, got {got!r}"
    else:
        message = f"HTTP {response.status} {response.reason}"
    raise SSEResponseError(message, status=response.status, body=body)


class EventSource:
    """The browser's EventSource: GET, no custom headers, reconnects until closed or failed.

    After the stream ends or drops it waits `reconnection_time` ms (3000, or the server's
    `retry:`) and reconnects with `Last-Event-ID`, for ever; a 204, another status than 200
    or another type than text/event-stream closes it for good. Use it as
    `async with EventSource(url) as source: async for event in source: ...`;
    every event, of every type, is queued for `async for` as well as given to listeners.

    How a stream ended, as a browser's page tells it (the lab's chat page does just this):
    finished: a `done` event: its listener calls `close()`, or the source reconnects and
    the lab server's 204 closes it. Failed: an `error` event from the server, for
    `add_event_listener("error", ...)` (in a browser it shares its name with the connection's
    error; here that one is `on_error`). Cut off: `on_error()` is called while `ready_state`
    is CONNECTING, before either; the source then reconnects with `Last-Event-ID` and the
    rest follows, in `async for` as if nothing happened (`attempts` keeps the cut). Listeners
    and `on_error` run in order as the stream is read; `async for` takes the events later.
    """

    CONNECTING: Final = 0
    OPEN: Final = 1
    CLOSED: Final = 2

    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        headers: None = None,
    ) -> None:
        if headers is not None:
            raise TypeError(
                "the browser's EventSource cannot send custom headers (such as Authorization): "
                "use EventSourcePolyfill(url, headers=...), or put a token in the URL"
            )
        if URL(url).scheme not in ("http", "https"):
            raise ValueError(f"EventSource needs an absolute http(s) URL, got {url!r}")
        self.url = url
        self.ready_state: int = self.CONNECTING
        self.last_event_id = ""
        self.reconnection_time = 3000  # ms
        self.attempts: list[Attempt] = []
        self.on_open: Callable[[], object] | None = None
        self.on_message: Listener | None = None
        self.on_error: Callable[[], object] | None = None
        self._listeners: dict[str, list[Listener]] = {}
        self._session = session
        self._queue: asyncio.Queue[ServerSentEvent | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._taken: str | None = None  # the id of the last event `async for` took, once it runs

    def add_event_listener(self, event_type: str, listener: Listener) -> None:
        """Call `listener` with each event of this type, as `addEventListener` does."""
        self._listeners.setdefault(event_type, []).append(listener)

    def close(self) -> None:
        """Stop for good, as the browser's `close()`: no more events, no reconnection."""
        if self.ready_state == self.CLOSED:
            return
        self.ready_state = self.CLOSED
        self._queue.put_nowait(None)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()  # a listener's close() is seen by the reading loop itself

    async def aclose(self) -> None:
        """`close()`, then wait until the response and the session this source opened are closed.

        Events read but never taken by an `async for` loop (one that left early) are dropped,
        so `last_event_id` is that of the last event the loop took: where to resume from.
        """
        self.close()
        if self._taken is not None:
            self.last_event_id = self._taken
        if self._task is not None:
            await asyncio.wait([self._task])
            if not self._task.cancelled():
                self._task.result()  # an exception raised by a listener surfaces here

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[ServerSentEvent]:
        """Every event across reconnections; the loop ends when the source is CLOSED."""
        self._start()
        if self._taken is None:
            self._taken = self.last_event_id
        while (event := await self._queue.get()) is not None:
            self._taken = event.id or ""
            yield event
        self._queue.put_nowait(None)  # so that a later loop ends at once too

    def _start(self) -> None:
        if self._task is None and self.ready_state != self.CLOSED:
            self._task = asyncio.create_task(self._run())

    def _request_headers(self) -> CIMultiDict[str]:
        headers = CIMultiDict({"Accept": _EVENT_STREAM, "Cache-Control": "no-cache"})
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    async def _run(self) -> None:
        session = self._session if self._session is not None else aiohttp.ClientSession()
        try:
            while True:
                await self._connect(session)
                if self.ready_state == self.CLOSED:
                    return
                await asyncio.sleep(self.reconnection_time / 1000)
        finally:
            self.ready_state = self.CLOSED
            self._queue.put_nowait(None)
            if session is not self._session:
                await session.close()

    async def _connect(self, session: aiohttp.ClientSession) -> None:
        """One connection, recorded in `attempts`; leaves CONNECTING to retry, or CLOSED."""
        attempt = Attempt(started=time.monotonic(), last_event_id=self.last_event_id)
        self.attempts.append(attempt)
        status: int | None = None
        error: Exception | None = None
        try:
            headers = self._request_headers()
            async with session.get(self.url, headers=headers, timeout=_STREAMING) as response:
                status = response.status
                await _ensure_event_stream(response, status_ok=status == 200)
                self.ready_state = self.OPEN
                if self.on_open is not None:
                    self.on_open()
                await self._read(response)
        except (aiohttp.ClientError, OSError, SSEResponseError) as exc:
            error = exc
        finally:
            self.attempts[-1] = replace(attempt, status=status, error=error, ended=time.monotonic())
        if self.ready_state == self.CLOSED:  # close() was called by a listener
            return
        # "fail the connection" on a bad response; else "reestablish the connection"
        failed = isinstance(error, SSEResponseError)
        self.ready_state = self.CLOSED if failed else self.CONNECTING
        if self.on_error is not None:
            self.on_error()

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        parser = EventStreamParser(last_event_id=self.last_event_id)
        while self.ready_state == self.OPEN and (chunk := await response.content.readany()):
            for event in parser.feed(chunk):
                self._dispatch(event)
            self.last_event_id = parser.last_event_id
            if parser.retry is not None:
                self.reconnection_time = parser.retry

    def _dispatch(self, event: ServerSentEvent) -> None:
        if self.ready_state == self.CLOSED:  # close() was called by an earlier listener
            return
        self.last_event_id = event.id or ""
        self._queue.put_nowait(event)
        if event.event == "message" and self.on_message is not None:
            self.on_message(event)
        for listener in self._listeners.get(event.event, []):
            listener(event)


class EventSourcePolyfill(EventSource):
    """An EventSource that sends extra headers (e.g. Authorization) on every (re)connection.

    Like npm's event-source-polyfill, except that it resumes with the `Last-Event-ID` header,
    as a browser does, where the npm package adds a `lastEventId` query parameter instead.
    A `Last-Event-ID` among `headers` says where to start; from then on the stream's ids count.
    """

    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(url, session=session)
        self.headers = CIMultiDict(headers or {})
        self.last_event_id = self.headers.pop("Last-Event-ID", "")

    def _request_headers(self) -> CIMultiDict[str]:
        headers = super()._request_headers()
        headers.update(self.headers)
        return headers


async def fetch_event_source(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    json: object = None,
    data: object = None,
    session: aiohttp.ClientSession | None = None,
    ends: Collection[str] = (),
) -> AsyncIterator[ServerSentEvent]:
    """The events of one request of any method, with a body, like @microsoft/fetch-event-source.

    One request, no automatic reconnection (the npm package retries by default): to resume,
    call again with a `Last-Event-ID` header. A 204 yields nothing; another status outside
    2xx, or another type than text/event-stream, raises SSEResponseError.

    `ends`, the types of the events that end the stream (for the lab's answers,
    `("done", "error")`), tells how it ended: the loop ends after one of them, finished or
    failed as its type says; a body that ends before one raises StreamCutOff, cut off, after
    the events that did arrive. Without `ends`, a body that ends is the stream's end. Either
    way, a connection dropped mid-body raises StreamCutOff (a ClientPayloadError).
    """
    request_headers = CIMultiDict({"Accept": _EVENT_STREAM})
    request_headers.update(headers or {})
    async with AsyncExitStack() as stack:
        if session is None:
            session = await stack.enter_async_context(aiohttp.ClientSession())
        response = await stack.enter_async_context(
            session.request(
                method, url, headers=request_headers, json=json, data=data, timeout=_STREAMING
            )
        )
        if response.status == 204:
            return
        await _ensure_event_stream(response, status_ok=200 <= response.status < 300)
        parser = EventStreamParser(last_event_id=request_headers.get("Last-Event-ID", ""))
        try:
            async for chunk in response.content.iter_any():
                for event in parser.feed(chunk):
                    yield event
                    if event.event in ends:
                        return
        except aiohttp.ClientPayloadError as dropped:
            raise StreamCutOff(parser.last_event_id) from dropped
        if ends:
            raise StreamCutOff(parser.last_event_id)

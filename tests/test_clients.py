"""The Python SSE clients against a small SSE server on a real socket."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from sse_lab.clients import (
    EventSource,
    EventSourcePolyfill,
    SSEResponseError,
    StreamCutOff,
    fetch_event_source,
)
from sse_lab.sse import ServerSentEvent, encode_comment, encode_retry

Seen = tuple[str, CIMultiDictProxy[str]]  # path and headers of a request the server received
SEEN = web.AppKey("seen", list[Seen])

STORY = [
    ServerSentEvent(data="hello, wörld"),
    ServerSentEvent(data="two\nlines", event="greeting", id="1"),
    ServerSentEvent(data='{"delta": "Hi"}', id="2"),
    ServerSentEvent(data="bye", event="done", id="3"),
]
# The story's bytes: CRLF line ends and a comment, sent in pieces of `?size=` bytes.
STORY_BYTES = (
    encode_retry(10)
    + encode_comment("heartbeat")
    + b"".join(event.encode() for event in STORY).replace(b"\n", b"\r\n")
)
# What a client hands out: `id` is the last event id at dispatch, as in a browser.
STORY_RECEIVED = [
    ServerSentEvent(data="hello, wörld", id="", retry=10),  # the opening `retry:` rides along
    ServerSentEvent(data="two\nlines", event="greeting", id="1"),
    ServerSentEvent(data='{"delta": "Hi"}', id="2"),
    ServerSentEvent(data="bye", event="done", id="3"),
]


async def open_stream(request: web.Request, *chunks: bytes) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
    return response


async def story(request: web.Request) -> web.StreamResponse:
    """The story in pieces of `size` bytes; a reconnection after it gets 204."""
    if "Last-Event-ID" in request.headers:
        return web.Response(status=204)
    size = int(request.query["size"])
    response = await open_stream(request)
    for start in range(0, len(STORY_BYTES), size):
        await response.write(STORY_BYTES[start : start + size])
        await asyncio.sleep(0)
    return response


async def resume(request: web.Request) -> web.StreamResponse:
    """Events 1 and 2, then the connection drops; a resume gets 3 and an end; then 204."""
    last = request.headers.get("Last-Event-ID")
    if last is None:
        response = await open_stream(
            request,
            encode_retry(50),
            ServerSentEvent(data="one", id="1").encode(),
            ServerSentEvent(data="two", id="2").encode(),
        )
        assert request.transport is not None
        request.transport.close()
        return response
    if last == "2":
        return await open_stream(request, ServerSentEvent(data="three", id="3").encode())
    return web.Response(status=204)


async def resume_without_ids(request: web.Request) -> web.StreamResponse:
    """An event with id 1; on reconnection, a blank line and an event without an id; then 204."""
    connection = len([path for path, _ in request.app[SEEN] if path == request.path])
    if connection == 1:
        return await open_stream(
            request, encode_retry(10), ServerSentEvent(data="one", id="1").encode()
        )
    if connection == 2:
        return await open_stream(request, encode_retry(10), ServerSentEvent(data="two").encode())
    return web.Response(status=204)


def delta(n: int) -> bytes:
    return ServerSentEvent(data=json.dumps({"delta": f" {n}"}), id=str(n)).encode()


DONE = ServerSentEvent(data='{"finish_reason": "stop"}', event="done", id="4").encode()
FAILED = ServerSentEvent(data='{"message": "the model failed"}', event="error", id="3").encode()
ENDS = ("done", "error")  # the events that end a lab answer's stream


async def answer(request: web.Request) -> web.StreamResponse:
    """An answer as the lab streams it, three ways: /answer/finished (deltas 1 to 3, done),
    /answer/failed (deltas 1 and 2, error), /answer/cut (deltas 1 and 2, then the body ends,
    or with ?drop the connection drops); a reconnection after delta 2 gets the rest (3, done),
    one after the end 204."""
    last = request.headers.get("Last-Event-ID")
    if last == "2":
        return await open_stream(request, delta(3), DONE)
    if last:
        return web.Response(status=204)
    how = request.match_info["how"]
    start = (encode_retry(10), delta(1), delta(2))
    if how == "finished":
        return await open_stream(request, *start, delta(3), DONE)
    if how == "failed":
        return await open_stream(request, *start, FAILED)
    response = await open_stream(request, *start)
    if "drop" in request.query:
        assert request.transport is not None
        request.transport.close()
    return response


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    if code == 204:
        return web.Response(status=204)
    return web.json_response({"error": f"status {code}"}, status=code)


async def plain(request: web.Request) -> web.Response:
    return web.Response(text="data: not an event stream\n\n")


async def slow_retry(request: web.Request) -> web.StreamResponse:
    """An empty stream that asks for an hour between reconnections."""
    return await open_stream(request, encode_retry(3_600_000))


async def echo(request: web.Request) -> web.StreamResponse:
    """Streams the JSON body back, one event per field."""
    body = await request.json()
    chunks = [
        ServerSentEvent(data=json.dumps({k: v}), event="echo").encode() for k, v in body.items()
    ]
    return await open_stream(request, *chunks)


@web.middleware
async def record(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    request.app[SEEN].append((request.path, request.headers))
    return await handler(request)


@dataclass
class Server:
    url: str
    seen: list[Seen]

    def headers(self, path: str) -> list[CIMultiDictProxy[str]]:
        return [headers for seen_path, headers in self.seen if seen_path == path]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    app = web.Application(middlewares=[record])
    app[SEEN] = []
    app.router.add_get("/story", story)
    app.router.add_get("/resume", resume)
    app.router.add_get("/resume-without-ids", resume_without_ids)
    app.router.add_get("/status/{code}", status)
    app.router.add_post("/status/{code}", status)
    app.router.add_get("/plain", plain)
    app.router.add_get("/slow-retry", slow_retry)
    app.router.add_post("/echo", echo)
    app.router.add_get("/answer/{how}", answer)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield Server(f"http://127.0.0.1:{runner.addresses[0][1]}", app[SEEN])
    await runner.cleanup()


@pytest.fixture(autouse=True)
def no_unclosed_resources() -> Iterator[None]:
    """Every test leaves no unclosed session, connector or response behind."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [w.message for w in caught if issubclass(w.category, ResourceWarning)] == []


async def with_event_source(url: str) -> list[ServerSentEvent]:
    async with EventSource(url) as source:
        return [event async for event in source]


async def with_fetch_event_source(url: str) -> list[ServerSentEvent]:
    return [event async for event in fetch_event_source(url)]


@pytest.mark.parametrize("size", [1, 3, 4096])
@pytest.mark.parametrize("collect", [with_event_source, with_fetch_event_source])
async def test_events_arrive_whole_however_the_server_chunks(
    server: Server,
    size: int,
    collect: Callable[[str], Awaitable[list[ServerSentEvent]]],
) -> None:
    assert await collect(f"{server.url}/story?size={size}") == STORY_RECEIVED


async def test_listeners_see_open_typed_events_and_errors_like_a_browser(server: Server) -> None:
    calls: list[str] = []
    async with EventSource(f"{server.url}/story?size=7") as source:
        source.on_open = lambda: calls.append("open")
        source.on_message = lambda event: calls.append(f"message {event.data}")
        source.on_error = lambda: calls.append(f"error, ready_state={source.ready_state}")
        source.add_event_listener("greeting", lambda event: calls.append(f"greeting {event.id}"))
        source.add_event_listener("done", lambda event: calls.append("done"))
        _ = [event async for event in source]
    assert calls == [
        "open",
        "message hello, wörld",
        "greeting 1",
        'message {"delta": "Hi"}',
        "done",
        f"error, ready_state={EventSource.CONNECTING}",  # the stream ended: reconnect
        f"error, ready_state={EventSource.CLOSED}",  # the reconnection got 204
    ]


async def test_reconnects_after_a_drop_with_last_event_id_and_the_servers_retry(
    server: Server,
) -> None:
    async with EventSource(f"{server.url}/resume") as source:
        received = [event.data async for event in source]

    assert received == ["one", "two", "three"]
    sent = server.headers("/resume")
    assert [headers.get("Last-Event-ID") for headers in sent] == [None, "2", "3"]
    assert all(headers["Accept"] == "text/event-stream" for headers in sent)
    assert all(headers["Cache-Control"] == "no-cache" for headers in sent)

    assert source.reconnection_time == 50
    assert source.last_event_id == "3"
    first, second, third = source.attempts
    assert [a.status for a in source.attempts] == [200, 200, 204]
    assert [a.last_event_id for a in source.attempts] == ["", "2", "3"]
    assert isinstance(first.error, aiohttp.ClientPayloadError)  # the drop
    assert second.error is None  # the server ended the stream
    assert isinstance(third.error, SSEResponseError)
    assert first.ended is not None and second.ended is not None
    assert second.started - first.ended >= 0.045  # waited about the server's 50 ms
    assert third.started - second.ended >= 0.045


async def test_a_new_stream_keeps_the_last_event_id_until_it_sends_its_own(
    server: Server,
) -> None:
    async with EventSource(f"{server.url}/resume-without-ids") as source:
        assert [(event.data, event.id) async for event in source] == [("one", "1"), ("two", "1")]
    sent = server.headers("/resume-without-ids")
    assert [headers.get("Last-Event-ID") for headers in sent] == [None, "1", "1"]


@pytest.mark.parametrize(
    ("path", "status"), [("/status/204", 204), ("/status/500", 500), ("/plain", 200)]
)
async def test_a_bad_response_closes_for_good(server: Server, path: str, status: int) -> None:
    async with EventSource(server.url + path) as source:
        assert [event async for event in source] == []
        assert source.ready_state == EventSource.CLOSED
    assert len(server.headers(path)) == 1  # no reconnection
    (attempt,) = source.attempts
    assert attempt.status == status
    assert isinstance(attempt.error, SSEResponseError)
    assert attempt.error.status == status


def test_event_source_cannot_send_headers() -> None:
    with pytest.raises(TypeError, match="EventSourcePolyfill"):
        EventSource("http://127.0.0.1/sse", headers={"Authorization": "Bearer t"})  # type: ignore[arg-type]


async def test_polyfill_sends_its_headers_on_every_reconnection(server: Server) -> None:
    headers = {"Authorization": "Bearer secret"}
    async with EventSourcePolyfill(f"{server.url}/resume", headers=headers) as source:
        assert [event.data async for event in source] == ["one", "two", "three"]
    sent = server.headers("/resume")
    assert [h.get("Authorization") for h in sent] == ["Bearer secret"] * 3
    assert [h.get("Last-Event-ID") for h in sent] == [None, "2", "3"]


async def test_a_last_event_id_given_to_the_polyfill_is_only_where_it_starts(server) -> None:
    headers = {"Authorization": "Bearer secret", "last-event-id": "2"}
    async with EventSourcePolyfill(f"{server.url}/resume", headers=headers) as source:
        assert [event.data async for event in source] == ["three"]
    assert [h.get("Last-Event-ID") for h in server.headers("/resume")] == ["2", "3"]


async def test_fetch_event_source_posts_a_json_body(server: Server) -> None:
    body = {"prompt": "Why is the sky blue?", "model": "lab"}
    events = [e async for e in fetch_event_source(f"{server.url}/echo", method="POST", json=body)]
    assert [event.event for event in events] == ["echo", "echo"]
    assert [json.loads(event.data) for event in events] == [
        {"prompt": body["prompt"]},
        {"model": "lab"},
    ]


async def test_fetch_event_source_raises_with_the_status_and_body(server: Server) -> None:
    with pytest.raises(SSEResponseError) as raised:
        async for _ in fetch_event_source(f"{server.url}/status/401", method="POST", json={}):
            pass
    assert raised.value.status == 401
    assert json.loads(raised.value.body) == {"error": "status 401"}


async def test_fetch_event_source_raises_on_another_content_type(server: Server) -> None:
    with pytest.raises(SSEResponseError, match="text/plain"):
        async for _ in fetch_event_source(f"{server.url}/plain"):
            pass


async def test_close_during_the_reconnection_wait_ends_the_loop(server: Server) -> None:
    waiting = asyncio.Event()
    source = EventSource(f"{server.url}/slow-retry")
    source.on_error = waiting.set

    async def consume() -> list[ServerSentEvent]:
        return [event async for event in source]

    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(10):  # guards against a hang; the wait itself is an hour
        await waiting.wait()
        assert source.ready_state == EventSource.CONNECTING
        await source.aclose()
        assert await consumer == []
    assert source.ready_state == EventSource.CLOSED
    assert len(source.attempts) == 1


async def test_a_session_passed_in_stays_open(server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        async with EventSource(f"{server.url}/resume", session=session) as source:
            assert [event.data async for event in source] == ["one", "two", "three"]
        assert not session.closed


async def test_close_from_a_listener_stops_at_once(server: Server) -> None:
    async with EventSource(f"{server.url}/story?size=4096") as source:
        source.on_message = lambda event: source.close()
        assert [event.data async for event in source] == ["hello, wörld"]
    assert len(source.attempts) == 1


async def test_close_from_on_error_prevents_the_reconnection(server: Server) -> None:
    async with EventSource(f"{server.url}/story?size=4096") as source:
        source.on_error = source.close
        assert [event async for event in source] == STORY_RECEIVED
    assert len(source.attempts) == 1


async def test_a_loop_that_leaves_early_resumes_after_the_last_event_it_took(server) -> None:
    # The whole story arrives in one piece, so all of it is read before the loop has taken
    # two events; resuming must still start after those two, or the rest is lost.
    async with EventSourcePolyfill(f"{server.url}/story?size=100000", headers={}) as source:
        taken = []
        async for event in source:
            taken.append(event)
            if len(taken) == 2:
                await asyncio.sleep(0.2)  # a reader who pauses: the rest is read meanwhile
                break
    assert [event.id for event in taken] == ["", "1"]
    assert source.last_event_id == "1"


def as_a_browser(source: EventSource) -> list[str]:
    """What a page's listeners see of a lab answer, in order, as the lab's chat page listens:
    `done` and the server's `error` close the source; `on_error` is the connection's."""
    seen: list[str] = []

    def end(event: ServerSentEvent) -> None:
        seen.append(f"{event.event} {event.id}")
        source.close()  # else it reconnects, and the server answers 204

    states = {EventSource.CONNECTING: "reconnecting", EventSource.CLOSED: "closed"}
    source.on_message = lambda event: seen.append(f"message {event.id}")
    source.add_event_listener("done", end)
    source.add_event_listener("error", end)
    source.on_error = lambda: seen.append(f"connection error, {states[source.ready_state]}")
    return seen


def event_source(url: str) -> EventSource:
    return EventSource(url)


def polyfill(url: str) -> EventSource:
    return EventSourcePolyfill(url, headers={"Authorization": "Bearer secret"})


@pytest.mark.parametrize("client", [event_source, polyfill])
async def test_an_event_source_tells_a_finished_answer_by_its_done(
    server: Server, client: Callable[[str], EventSource]
) -> None:
    async with client(f"{server.url}/answer/finished") as source:
        seen = as_a_browser(source)
        events = [event async for event in source]
    assert seen == ["message 1", "message 2", "message 3", "done 4"]
    assert events[-1].event == "done"
    assert len(source.attempts) == 1


@pytest.mark.parametrize("client", [event_source, polyfill])
async def test_an_event_source_tells_a_failed_answer_by_the_servers_error_event(
    server: Server, client: Callable[[str], EventSource]
) -> None:
    async with client(f"{server.url}/answer/failed") as source:
        seen = as_a_browser(source)
        events = [event async for event in source]
    assert seen == ["message 1", "message 2", "error 3"]  # no connection error: the server's
    assert json.loads(events[-1].data) == {"message": "the model failed"}
    assert len(source.attempts) == 1


@pytest.mark.parametrize("client", [event_source, polyfill])
@pytest.mark.parametrize("cut", ["", "?drop"])
async def test_an_event_source_tells_a_cut_by_a_connection_error_and_resumes(
    server: Server, client: Callable[[str], EventSource], cut: str
) -> None:
    async with client(f"{server.url}/answer/cut{cut}") as source:
        seen = as_a_browser(source)
        events = [event async for event in source]
    assert seen == [
        "message 1",
        "message 2",
        "connection error, reconnecting",  # before a done or an error: cut off
        "message 3",
        "done 4",
    ]
    assert [event.id for event in events] == ["1", "2", "3", "4"]  # the loop sees no cut
    first, second = source.attempts
    assert second.last_event_id == "2"
    assert isinstance(first.error, aiohttp.ClientPayloadError) == (cut == "?drop")


@pytest.mark.parametrize("how", ["finished", "failed"])
async def test_fetch_event_source_with_ends_stops_at_the_end_event(
    server: Server, how: str
) -> None:
    url = f"{server.url}/answer/{how}"
    events = [event async for event in fetch_event_source(url, ends=ENDS)]
    assert events[-1].event == {"finished": "done", "failed": "error"}[how]


@pytest.mark.parametrize("cut", ["", "?drop"])
async def test_fetch_event_source_with_ends_raises_stream_cut_off_and_can_resume(
    server: Server, cut: str
) -> None:
    events = []
    with pytest.raises(StreamCutOff, match="cut off after event 2") as raised:
        async for event in fetch_event_source(f"{server.url}/answer/cut{cut}", ends=ENDS):
            events.append(event)
    assert [event.id for event in events] == ["1", "2"]

    resume = {"Last-Event-ID": raised.value.last_event_id}
    url = f"{server.url}/answer/cut{cut}"
    rest = [event async for event in fetch_event_source(url, headers=resume, ends=ENDS)]
    assert [(event.event, event.id) for event in rest] == [("message", "3"), ("done", "4")]


async def test_fetch_event_source_without_ends_raises_only_for_a_dropped_connection(
    server: Server,
) -> None:
    ended = [event async for event in fetch_event_source(f"{server.url}/answer/cut")]
    assert [event.id for event in ended] == ["1", "2"]  # a body that ends is the end
    with pytest.raises(aiohttp.ClientPayloadError) as raised:  # as aiohttp raises it
        async for _ in fetch_event_source(f"{server.url}/answer/cut?drop"):
            pass
    assert isinstance(raised.value, StreamCutOff)
    assert raised.value.last_event_id == "2"

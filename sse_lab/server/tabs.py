"""`GET /answers/events?follow=ID:AFTER&follow=...`: several answers of one user, one stream.

Over HTTP/1.1 a browser opens at most six connections to one origin, and each `/sse/{id}`
holds one for as long as its answer streams, so a seventh tab waits (notebook 07). The chat
page's tabs can share this one stream instead (static/tabs.js). Its events are those of
`/sse/{id}`, each one's data tagged with the answer it belongs to (`{"answer": ID, ...}`);
`id:` is the seq within that answer. A client keeps one cursor per answer and resumes by
sending them in the URL again: a single Last-Event-ID cannot say where several answers are.

The stream ends once every answer it follows has ended: the set of answers is fixed by the
URL, so an open stream with nothing left to follow could only hold a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from aiohttp import web

from sse_lab.server.auth import require_user
from sse_lab.server.bodies import shown
from sse_lab.server.chat import require_own_answer
from sse_lab.server.state import ANSWERS
from sse_lab.server.streams import event_stream, events_of, parse_seq, stream_head
from sse_lab.stores.base import Batch

routes = web.RouteTableDef()

MAX_FOLLOWED = 16  # answers on one stream: many more tabs than a browser's six connections
USAGE = "follow=ID:AFTER for each answer, AFTER the last seq you have of it (0 for none)"


@routes.get("/answers/events")
async def stream_answers(request: web.Request) -> web.StreamResponse:
    """Stream the followed answers' events as they come, each after its cursor, until every
    one has ended; 204 when the client has seen the end of them all."""
    user = require_user(request)
    follows = parse_follows(request.query.getall("follow", []))
    cursors = await unended(request, user, follows)
    if not cursors:
        return web.Response(status=204)
    if request.method == "HEAD":
        return stream_head()
    answers = request.app[ANSWERS]
    batches = merged(
        {answer_id: answers.follow(answer_id, after) for answer_id, after in cursors.items()}
    )
    async with event_stream(request) as stream, aclosing(batches):
        async for answer_id, batch in batches:
            await stream.send(events_of(batch, answer=answer_id))
    return stream.response


async def unended(request: web.Request, user: str, cursors: dict[str, int]) -> dict[str, int]:
    """The cursors of answers with more to send (a cursor past the end: the client saw it);
    a 404 for an id that is not the user's, a 400 for a cursor ahead of a running answer."""
    store = request.app[ANSWERS].store
    left: dict[str, int] = {}
    for answer_id, after in cursors.items():
        await require_own_answer(request, user, answer_id)
        progress = await store.read(answer_id, after)
        if progress.reader_ahead(after):
            raise web.HTTPBadRequest(
                text=f"follow={shown(answer_id)}:{after} is ahead of this answer: "
                f"it has {progress.last_seq} so far"
            )
        if after <= progress.last_seq:
            left[answer_id] = after
    return left


def parse_follows(values: list[str]) -> dict[str, int]:
    """The `follow=ID:AFTER` values as cursors by answer id; a 400 that says what is wrong."""
    if not values:
        raise web.HTTPBadRequest(text=f"nothing to follow: send {USAGE}")
    if len(values) > MAX_FOLLOWED:
        raise web.HTTPBadRequest(
            text=f"one stream follows at most {MAX_FOLLOWED} answers, not {len(values)}"
        )
    cursors: dict[str, int] = {}
    for value in values:
        answer_id, colon, after = value.rpartition(":")
        if not colon or not answer_id:
            raise web.HTTPBadRequest(text=f"follow={shown(value)} is not ID:AFTER: send {USAGE}")
        if answer_id in cursors:
            raise web.HTTPBadRequest(text=f"answer {shown(answer_id)} is followed twice")
        cursors[answer_id] = parse_seq(after, f"AFTER in follow={shown(value)}")
    return cursors


async def merged(
    follows: dict[str, AsyncIterator[Batch]],
) -> AsyncGenerator[tuple[str, Batch], None]:
    """Each answer's batches with its id, as they come, until every follow has ended: one
    task per answer feeds one queue, and closing this generator cancels the tasks left.

    The queue has no bound: a batch waiting in it is one its answer's tail would hold for a
    slow reader anyway, and a reader that takes nothing is cut off (`EventStream.send`).
    """
    queue: asyncio.Queue[tuple[str, Batch | None]] = asyncio.Queue()
    feeds = {
        answer_id: asyncio.create_task(_feed(answer_id, batches, queue), name=f"follow {answer_id}")
        for answer_id, batches in follows.items()
    }
    try:
        while feeds:
            answer_id, batch = await queue.get()
            if batch is None:
                await feeds.pop(answer_id)  # raises what ended that follow, if it failed
            else:
                yield answer_id, batch
    finally:
        for task in feeds.values():
            task.cancel()
        await asyncio.gather(*feeds.values(), return_exceptions=True)


async def _feed(
    answer_id: str, batches: AsyncIterator[Batch], queue: asyncio.Queue[tuple[str, Batch | None]]
) -> None:
    """Put the answer's batches on `queue`, then `(answer_id, None)`: its follow has ended."""
    try:
        async for batch in batches:
            queue.put_nowait((answer_id, batch))
    finally:
        queue.put_nowait((answer_id, None))

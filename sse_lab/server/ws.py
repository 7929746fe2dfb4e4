"""`GET /ws`: the same answers as `/sse/{id}`, over one WebSocket that carries both directions.

The client sends JSON text messages (`ask`, `follow`, `stop`) while the server streams an
answer back on the same connection; the answers go through the same `AnswerService`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSMsgType, web

from sse_lab.answers import AnswerService
from sse_lab.server.auth import require_user
from sse_lab.server.bodies import BadJSON, error_response, parse_json, shown, to_json
from sse_lab.server.state import ANSWERS, OPEN_SOCKETS, SETTINGS
from sse_lab.server.streams import done_fields
from sse_lab.stores.base import MAX_SEQ, Delta, End, StoreUnavailable

log = logging.getLogger("sse_lab.server")
routes = web.RouteTableDef()

USAGE = 'send JSON text like {"type": "ask", "prompt": "..."}; types: ask, follow, stop'


@routes.get("/ws")
async def answer_socket(request: web.Request) -> web.StreamResponse:
    """Authenticate, upgrade, then serve the client's messages until it closes the socket."""
    user = require_user(request)
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(heartbeat=settings.heartbeat)
    if not ws.can_prepare(request).ok:
        return error_response(400, "GET /ws needs a WebSocket upgrade (e.g. new WebSocket(url))")
    await ws.prepare(request)
    conversation = Conversation(ws, request.app[ANSWERS], user, settings.max_prompt_chars)
    request.app[OPEN_SOCKETS].add(ws)
    try:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await conversation.handle(message.data)
            elif message.type is WSMsgType.BINARY:
                await conversation.refuse(USAGE)
    finally:
        request.app[OPEN_SOCKETS].discard(ws)
        await conversation.close()
    return ws


class Conversation:
    """One socket's state: at most one answer streaming, in a task beside the message reader.

    An answer that `ask` started on this socket ends with its stream, whatever ends that
    stream; one that `follow` streams goes on, as it does when an SSE reader leaves.
    """

    def __init__(
        self, ws: web.WebSocketResponse, answers: AnswerService, user: str, max_prompt: int
    ) -> None:
        self._ws = ws
        self._answers = answers
        self._user = user
        self._max_prompt = max_prompt
        self._streaming: str | None = None  # the id of the answer being streamed
        self._task: asyncio.Task[None] | None = None

    async def handle(self, text: str) -> None:
        """Act on one client message; a bad one is refused with an error message, no more."""
        try:
            message: Any = parse_json(text)
        except BadJSON as bad:
            return await self.refuse(f"{bad.message}: {USAGE}")
        kind = message.get("type") if isinstance(message, dict) else None
        try:
            if kind == "ask":
                await self._ask(message.get("prompt"))
            elif kind == "follow":
                await self._follow(message.get("id"), message.get("after", 0))
            elif kind == "stop":
                await self._stop()
            else:
                await self.refuse(f"unknown message type {shown(kind)}: {USAGE}")
        except StoreUnavailable as exc:
            await self.refuse(str(exc))

    async def refuse(self, reason: str) -> None:
        """Tell the client its last message was not acted on (no `id`: no answer ends)."""
        await self._send({"type": "error", "message": reason})

    async def close(self) -> None:
        """Cancel the streaming task, if any, and wait for it to end."""
        task = self._task
        if task is not None:
            task.cancel()
            # A client that leaves cancels this handler too, maybe during this wait: the
            # task then still ends by itself, its answer stopped (see `_stream`).
            await asyncio.wait([task])

    async def _ask(self, prompt: object) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            return await self.refuse('"ask" needs a non-empty string field "prompt"')
        if len(prompt) > self._max_prompt:
            return await self.refuse(
                f"the prompt has {len(prompt)} characters; at most {self._max_prompt}"
            )
        if await self._idle():
            answer = await self._answers.start(self._user, prompt)
            self._begin(answer.id, 0, started_here=True)

    async def _follow(self, answer_id: object, after: object) -> None:
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_SEQ:
            return await self.refuse(
                f'"after" must be a whole number from 0 to {MAX_SEQ} (the last seq seen)'
            )
        answer = await self._answers.store.get(answer_id) if isinstance(answer_id, str) else None
        if answer is None or answer.owner != self._user:
            return await self.refuse(f"no answer {shown(answer_id)} for this user")
        progress = await self._answers.store.read(answer.id, after)
        if progress.reader_ahead(after):
            return await self.refuse(
                f'"after" is {after}, ahead of this answer: it has {progress.last_seq} so far'
            )
        if await self._idle():
            self._begin(answer.id, after, started_here=False)

    async def _stop(self) -> None:
        task = self._task
        if task is None or self._streaming is None:
            return await self.refuse("nothing is streaming")
        await self._answers.stop(self._streaming)
        # The stream ends by itself with `done` "stopped": wait for it, so that this
        # message's effect is on the wire before the next message is read.
        await asyncio.wait([task])

    async def _idle(self) -> bool:
        """Whether no answer is streaming; if one is, the client is told so."""
        if self._task is None:
            return True
        await self.refuse('an answer is streaming: wait for its end or send {"type": "stop"}')
        return False

    def _begin(self, answer_id: str, after: int, *, started_here: bool) -> None:
        self._streaming = answer_id
        self._task = asyncio.create_task(
            self._stream(answer_id, after, started_here), name=f"ws {answer_id}"
        )

    async def _stream(self, answer_id: str, after: int, started_here: bool) -> None:
        ended = False
        try:
            await self._send({"type": "answer", "id": answer_id})
            # Heartbeats (empty batches) send nothing: the socket's own ping/pong keeps it alive.
            async for batch in self._answers.follow(answer_id, after):
                for item in batch.pieces:
                    await self._send(answer_message(answer_id, item))
            ended = True
        except ConnectionResetError:
            pass  # the client left
        except Exception:  # as errors.json_errors does for handlers: log, tell, go on
            log.exception("streaming %s over /ws failed", answer_id)
            with contextlib.suppress(ConnectionResetError):
                await self._send({"type": "error", "id": answer_id, "message": "internal error"})
        finally:
            self._task = self._streaming = None
            if started_here and not ended:  # cancelled, or the client left: nobody reads it
                await self._answers.stop(answer_id)

    async def _send(self, message: dict[str, Any]) -> None:
        # aiohttp writes each frame whole, so the reader and the streaming task may both send.
        await self._ws.send_str(to_json(message))


def answer_message(answer_id: str, item: Delta | End) -> dict[str, Any]:
    """An answer's piece as a WebSocket message: deltas, then `done` (with the fields of the
    SSE `done` event) or `error`, with its id."""
    if isinstance(item, Delta):
        return {"type": "delta", "seq": item.seq, "text": item.text}
    if item.outcome.status == "error":
        return {"type": "error", "id": answer_id, "message": item.outcome.error}
    return {"type": "done", "id": answer_id, **done_fields(item.outcome)}

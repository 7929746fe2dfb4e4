"""The app factory: every route of the lab on one aiohttp application."""

from __future__ import annotations

import gc
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSCloseCode, web

from sse_lab.answers import AnswerService, Limits
from sse_lab.config import Settings, check_store
from sse_lab.redis_store import RedisAnswerStore
from sse_lab.server import chat, demo, errors, openai_api, page, request_log, ws
from sse_lab.server.state import (
    ANSWERS,
    MODEL_STREAMS,
    OPEN_SOCKETS,
    OPEN_STREAMS,
    REQUEST_LOG,
    SETTINGS,
)
from sse_lab.store import AnswerStore, SQLiteAnswerStore

log = logging.getLogger("sse_lab.server")


def create_app(settings: Settings) -> web.Application:
    """An app for `settings`, whose upstream base_url must be set (see `launch`)."""
    app = web.Application(middlewares=[request_log.remember_requests, errors.json_errors])
    app[SETTINGS] = settings
    app[REQUEST_LOG] = deque(maxlen=settings.request_log_size)
    app[MODEL_STREAMS] = set()
    app[OPEN_STREAMS] = set()
    app[OPEN_SOCKETS] = set()
    app.cleanup_ctx.append(_answers)
    app.on_shutdown.append(_stop_answers)
    for group in (demo, chat, openai_api, request_log, ws, page):
        app.add_routes(group.routes)
    return app


async def _answers(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await open_store(settings)
    limits = Limits(settings.max_tokens, settings.max_seconds)
    app[ANSWERS] = AnswerService(store, settings.upstream, limits, settings.heartbeat)
    yield
    await app[ANSWERS].close()
    await store.close()


async def open_store(settings: Settings) -> AnswerStore:
    """The answer store of `settings`: Redis when `store` names one, else the SQLite file."""
    if not settings.store:
        return SQLiteAnswerStore(settings.db_path)
    url = check_store(settings.store)
    return await RedisAnswerStore.connect(url, retention=settings.store_retention)


async def _stop_answers(app: web.Application) -> None:
    # Before the server waits for open requests: end generation, so readers get their
    # `error` event and the model's streams close, and say goodbye on open WebSockets,
    # instead of the wait running out.
    await app[ANSWERS].close()
    sockets = app[OPEN_SOCKETS]
    for socket in list(sockets):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def freeze_heap(app: web.Application) -> None:
    """For a server in a process of its own, once started: what start-up made (modules, the
    SDK's models) leaves the garbage collector's view, so that a full collection under a
    thousand streams takes a few ms instead of 50-90 ms on the event loop (gc.freeze)."""
    gc.freeze()


def runner_for(app: web.Application) -> web.AppRunner:
    """A runner with the lab's server options: masked access log, long request lines
    (so `/ask` itself can answer 414), and handlers cancelled when their client leaves."""
    return web.AppRunner(app, **SERVER_OPTIONS)


SERVER_OPTIONS: dict[str, Any] = {
    "access_log_class": request_log.MaskingAccessLogger,
    "handler_cancellation": True,
    "shutdown_timeout": 2.0,
    "max_line_size": 1 << 20,
    "max_field_size": 1 << 16,
}

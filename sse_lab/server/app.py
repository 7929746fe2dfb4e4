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
from sse_lab.server import chat, demo, openai_api, page, request_log, tabs, ws
from sse_lab.server.bodies import json_errors
from sse_lab.server.guards import Guard, GuardedRunner, open_file_limit
from sse_lab.server.state import (
    ANSWERS,
    MODEL_STREAMS,
    OPEN_SOCKETS,
    OPEN_STREAMS,
    REQUEST_LOG,
    SETTINGS,
)
from sse_lab.stores.base import AnswerStore
from sse_lab.stores.redis import RedisAnswerStore
from sse_lab.stores.sqlite import SQLiteAnswerStore

log = logging.getLogger("sse_lab.server")


def create_app(settings: Settings) -> web.Application:
    """An app for `settings`, whose upstream base_url must be set (see `lab.launch`)."""
    # json_errors outermost: whatever fails, even in remembering a request, is a JSON error.
    app = web.Application(middlewares=[json_errors, request_log.remember_requests])
    app[SETTINGS] = settings
    app[REQUEST_LOG] = deque(maxlen=settings.request_log_size)
    app[MODEL_STREAMS] = set()
    app[OPEN_STREAMS] = set()
    app[OPEN_SOCKETS] = set()
    app.cleanup_ctx.append(answer_service)
    app.on_shutdown.append(say_goodbye)
    # tabs before chat: its `/answers/events` is never taken for an `/answers/{id}`.
    for group in (demo, tabs, chat, openai_api, request_log, ws, page):
        app.add_routes(group.routes)
    return app


async def answer_service(app: web.Application) -> AsyncIterator[None]:
    """The answer store and the service on it, from the app's start-up to its clean-up."""
    settings = app[SETTINGS]
    store = await open_store(settings)
    limits = Limits(settings.max_tokens, settings.max_seconds)
    app[ANSWERS] = AnswerService(store, settings.upstream, limits)
    try:
        yield
    finally:
        await app[ANSWERS].close()
        await store.close()


async def open_store(settings: Settings) -> AnswerStore:
    """The answer store of `settings`: Redis when `store` names one, else the SQLite file."""
    if not settings.store:
        return SQLiteAnswerStore(settings.db_path, settings.heartbeat)
    url = check_store(settings.store)
    return await RedisAnswerStore.connect(
        url, retention=settings.store_retention, heartbeat=settings.heartbeat
    )


async def say_goodbye(app: web.Application) -> None:
    """Before the server waits for its open requests: the answers generated here end (their
    readers get the `error` event and leave) and WebSockets close with 1001, so that the
    wait does not run out with streams open."""
    await app[ANSWERS].end_running()
    sockets = app[OPEN_SOCKETS]
    for socket in list(sockets):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def freeze_heap(app: web.Application) -> None:
    """For a server in a process of its own, once started: what start-up made (modules, the
    SDK's models) leaves the garbage collector's view, so that a full collection under many
    streams does not walk it on the event loop (gc.freeze)."""
    gc.freeze()


def runner_for(app: web.Application) -> web.AppRunner:
    """A runner with the lab's server options: masked access log, long request lines
    (so `/ask` itself can answer 414), handlers cancelled when their client leaves, idle
    connections closed after 75 s (as nginx does), and the guards of `guards`."""
    settings = app[SETTINGS]
    guard = Guard(settings.head_timeout, open_file_limit(), settings.fd_margin)
    return GuardedRunner(app, guard, **SERVER_OPTIONS)


SERVER_OPTIONS: dict[str, Any] = {
    "access_log_class": request_log.MaskingAccessLogger,
    "handler_cancellation": True,
    "shutdown_timeout": 2.0,
    "keepalive_timeout": 75.0,
    "max_line_size": 1 << 20,
    "max_field_size": 1 << 16,
}

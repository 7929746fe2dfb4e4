"""Typed keys for what the app holds: route modules import these, never app.py."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sse_lab.config import Settings

if TYPE_CHECKING:
    from sse_lab.answers import AnswerService

SETTINGS = web.AppKey("settings", Settings)
ANSWERS: web.AppKey[AnswerService] = web.AppKey("answers")
# The recent requests as the server saw them (method, path, headers), secrets masked.
REQUEST_LOG: web.AppKey[deque[dict[str, Any]]] = web.AppKey("request_log")
# The SSE responses being written right now: a client that left must not stay in here.
OPEN_STREAMS: web.AppKey[set[web.StreamResponse]] = web.AppKey("open_streams")
# The open WebSockets of /ws, closed with "going away" when the server shuts down.
OPEN_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("open_sockets")
# Live streams of the built-in model, so tests can see a stopped answer stop upstream too.
MODEL_STREAMS: web.AppKey[set[object]] = web.AppKey("model_streams")

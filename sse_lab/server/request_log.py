"""What the server saw: recent requests with their headers, and an access log, secrets masked.

The workbook shows learners which headers a client really sent (a browser's EventSource
sends no Authorization); tokens never reach a log in clear. `GET /debug/requests` shows a
user their own requests only (by their token), unless the lab runs in teaching mode
(`Settings.share_request_log`), where one learner reads everything on their own machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from sse_lab.server.auth import (
    current_user,
    mask_header,
    mask_url,
    require_user,
    stream_token_user,
)
from sse_lab.server.bodies import json_response
from sse_lab.server.state import REQUEST_LOG, SETTINGS

routes = web.RouteTableDef()
access_log = logging.getLogger("aiohttp.access")

LOGGED_URL_CHARS = 2000  # a longer URL (a huge /ask) is cut in logs, its length said


def seen_request(request: web.Request) -> dict[str, Any]:
    """One request as the server saw it, with credentials masked, and whose it was."""
    headers = {name: mask_header(name, value) for name, value in request.headers.items()}
    return {
        "time": time.time(),
        "method": request.method,
        "url": loggable_url(request),
        "url_bytes": len(request.raw_path.encode()),
        "headers": headers,
        "user": _whose(request),  # None: no valid token
    }


def _whose(request: web.Request) -> str | None:
    """The user of the request's token, or of its stream token on a route for one answer."""
    user = current_user(request)
    answer_id = request.match_info.get("id")
    if user is None and answer_id is not None:
        with contextlib.suppress(web.HTTPUnauthorized):  # a bad stream token: nobody's
            user = stream_token_user(request, answer_id)
    return user


def loggable_url(request: web.BaseRequest) -> str:
    """The request's URL for a log: tokens masked, at most LOGGED_URL_CHARS characters."""
    url = mask_url(request.path_qs)
    if len(url) <= LOGGED_URL_CHARS:
        return url
    return f"{url[:LOGGED_URL_CHARS]}... ({len(url)} characters)"


@web.middleware
async def remember_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep the recent requests (but not the log's own) for `GET /debug/requests`; write an
    access log line for a request whose client left before its response ended too (aiohttp
    logs none for a handler it cancels)."""
    if request.path != "/debug/requests":
        request.app[REQUEST_LOG].append(seen_request(request))
    started = time.monotonic()
    try:
        return await handler(request)
    except asyncio.CancelledError:
        if access_log.isEnabledFor(logging.INFO):
            seconds = time.monotonic() - started
            access_log.info("%s (client left)", access_line(request, 499, seconds))
        raise


@routes.get("/debug/requests")
async def recent_requests(request: web.Request) -> web.Response:
    """Your recent requests, newest last (everyone's in teaching mode): `?path=/sse` keeps
    those whose path starts so."""
    prefix = request.query.get("path", "")
    seen = [r for r in request.app[REQUEST_LOG] if r["url"].startswith(prefix)]
    if not request.app[SETTINGS].share_request_log:
        user = require_user(request)
        seen = [r for r in seen if r["user"] == user]
    return json_response(seen)


def access_line(request: web.BaseRequest, status: int, seconds: float) -> str:
    """One access log line like aiohttp's own, the URL masked and bounded, and printable
    whatever bytes the client sent."""
    line = f'{request.remote} "{request.method} {loggable_url(request)}" {status} {seconds:.3f}s'
    return line.encode("ascii", "backslashreplace").decode("ascii")


class MaskingAccessLogger(AbstractAccessLogger):
    """A one-line access log like aiohttp's own, without tokens."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s", access_line(request, response.status, time))

"""What the server saw: recent requests with their headers, and an access log, secrets masked.

The workbook shows learners which headers a client really sent (a browser's EventSource
sends no Authorization); tokens never reach a log in clear.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from sse_lab.server.auth import mask_authorization, mask_url
from sse_lab.server.state import REQUEST_LOG

routes = web.RouteTableDef()


def seen_request(request: web.Request) -> dict[str, Any]:
    """One request as the server saw it, with credentials masked."""
    headers = {
        name: mask_authorization(value) if name.lower() == "authorization" else value
        for name, value in request.headers.items()
    }
    return {
        "time": time.time(),
        "method": request.method,
        "url": mask_url(request.path_qs),
        "url_bytes": len(request.raw_path.encode()),
        "headers": headers,
    }


@web.middleware
async def remember_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep the recent requests (but not the log's own) for `GET /debug/requests`."""
    if request.path != "/debug/requests":
        request.app[REQUEST_LOG].append(seen_request(request))
    return await handler(request)


@routes.get("/debug/requests")
async def recent_requests(request: web.Request) -> web.Response:
    """The recent requests, newest last: `?path=/sse` keeps those whose path starts so."""
    prefix = request.query.get("path", "")
    seen = [r for r in request.app[REQUEST_LOG] if r["url"].startswith(prefix)]
    return web.json_response(seen)


class MaskingAccessLogger(AbstractAccessLogger):
    """A one-line access log like aiohttp's own, without tokens."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.3fs',
            request.remote,
            request.method,
            mask_url(request.path_qs),
            response.status,
            time,
        )

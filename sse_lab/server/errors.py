"""Every error a client sees is JSON `{"error": "..."}` with a fitting status, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from sse_lab.server.bodies import json_response
from sse_lab.stores.base import StoreUnavailable

log = logging.getLogger("sse_lab.server")


# An error may quote a client's input: no browser is to read it as anything but JSON.
ERROR_HEADERS = {"X-Content-Type-Options": "nosniff"}


def error_response(status: int, message: str, **headers: str) -> web.Response:
    """The one shape of an error: a status and a sentence for a person."""
    return json_response({"error": message}, status=status, headers={**ERROR_HEADERS, **headers})


def shown(value: object, limit: int = 80) -> str:
    """`repr(value)` for an error message, cut short: a client's input is not echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text HTTP errors and unexpected exceptions into JSON errors."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers: dict[str, Any] = {
            k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")
        }
        return error_response(exc.status, _sentence(exc), **headers)
    except StoreUnavailable as exc:  # the database locked or read-only, Redis away: not a bug
        log.warning("%s %s: %s", request.method, request.path, exc)
        message = f"the answer store is unavailable right now ({exc}); try again shortly"
        return error_response(503, message, **{"Retry-After": "1"})
    except ConnectionResetError:
        # The client left before its response began (nginx logs this as 499): not a bug.
        return web.Response(status=499, reason="Client Closed Request")
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal server error")


def _sentence(exc: web.HTTPException) -> str:
    text = (exc.text or "").strip()
    # aiohttp's default body repeats "405: Method Not Allowed"; say something more useful.
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return f"method {exc.method} not allowed here; use {', '.join(sorted(exc.allowed_methods))}"
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return "request body too large"
    if isinstance(exc, web.HTTPNotFound) and text.startswith("404"):
        return "not found"
    return text or exc.reason

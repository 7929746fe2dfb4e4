"""JSON from clients, read strictly: UTF-8 text, nesting Python can parse, no lone surrogates;
JSON to clients (`to_json`, `json_response`), as plain UTF-8 text; and every error a client
sees as JSON `{"error": "..."}` with a fitting status, never a traceback (`json_errors`).

Whatever a client sends, the result is either a value every later step can store, encode
and send on (SQLite, `to_json`, a socket) or a `BadJSON` with a status and a sentence.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from sse_lab.stores.base import StoreUnavailable

log = logging.getLogger("sse_lab.server")

UTF8 = ("utf-8", "utf8")


class BadJSON(Exception):
    """A body or message that is not JSON this server can use; `status` is the fitting 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_json(request: web.Request) -> Any:
    """The request's body as JSON (which RFC 8259 says is UTF-8 between systems).

    Raises BadJSON for another charset (415), bytes that are not UTF-8 or not JSON (400);
    aiohttp's own 413 for a body over the server's size limit passes through.
    """
    charset = request.charset
    if charset is not None and charset.lower() not in UTF8:
        raise BadJSON(415, "send JSON as UTF-8: charset=utf-8, or no charset")
    body = await request.read()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJSON(400, "the body is not UTF-8 text") from None
    return parse_json(text)


def to_json(value: object) -> str:
    """`value` as JSON text with every character as itself ("什么", not "\\u4ec0\\u4e48"), as
    every route sends it: readable in curl and logs, and sent as UTF-8 bytes."""
    return json.dumps(value, ensure_ascii=False)


def json_response(value: object, **kwargs: Any) -> web.Response:
    """aiohttp's `web.json_response` (`application/json; charset=utf-8`), its text `to_json`'s."""
    return web.json_response(value, dumps=to_json, **kwargs)


def parse_json(text: str) -> Any:
    """`json.loads`, refusing what would break later: nesting too deep for Python's parser,
    and strings with a lone surrogate (`"\\ud800"` is valid JSON but no Unicode text)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadJSON(400, "the JSON is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, or an int of over 4,300 digits
        raise BadJSON(400, f"the JSON is not valid: {error}") from None
    if "\\u" in text and _has_lone_surrogate(value):  # only an escape can make one
        raise BadJSON(400, "the JSON has a lone surrogate (\\ud800-\\udfff) in a string")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]  # a loop, not recursion: the value may be nested as deep as json allows
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack += item
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return False


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

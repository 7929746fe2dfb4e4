"""JSON from clients, read strictly: UTF-8 text, nesting Python can parse, no lone surrogates;
and JSON to clients (`to_json`, `json_response`), as plain UTF-8 text.

Whatever a client sends, the result is either a value every later step can store, encode
and send on (SQLite, `to_json`, a socket) or a `BadJSON` with a status and a sentence.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

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
    if _has_lone_surrogate(value):
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

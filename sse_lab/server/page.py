"""`GET /`: the chat page, plain HTML, CSS and JavaScript served as files.

The page reads its token from the URL fragment (`/#token=...`), which browsers never send,
so the server never writes a token into HTML.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).with_name("static")
# Only this server's own files and requests: the page works offline and leaks nothing.
CONTENT_SECURITY_POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'"

routes = web.RouteTableDef()


@routes.get("/")
async def chat_page(request: web.Request) -> web.FileResponse:
    """The chat page; its script and style come from `/static/`."""
    return web.FileResponse(
        STATIC_DIR / "index.html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


@routes.get("/static/{name}")
async def static_file(request: web.Request) -> web.FileResponse:
    """One of the page's files. aiohttp's FileResponse honours Range (206, or 416 with
    `Content-Range: bytes */SIZE` past the end) and conditional requests; not aiohttp's
    static route, whose unknown file is an empty 404, where this one's is JSON."""
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if name.startswith(".") or "/" in name or not path.is_file():
        raise web.HTTPNotFound(text="no such file under /static/")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    return web.FileResponse(
        path, headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
    )

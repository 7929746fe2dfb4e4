"""`GET /`: the chat page, plain HTML, CSS and JavaScript served as files.

The page reads its token from the URL fragment (`/#token=...`), which browsers never send,
so the server never writes a token into HTML. Its URLs are relative, so that it also works
under a path prefix, as behind a Jupyter server's proxy (`/user/alice/proxy/PORT/`).
"""

from __future__ import annotations

import html
import mimetypes
import re
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).with_name("static")
# Only this server's own files and requests: the page works offline and leaks nothing.
CONTENT_SECURITY_POLICY = "default-src 'self'; object-src 'none'; base-uri 'self'"
# The page's own base, which a proxy that serves it under a prefix replaces.
DEFAULT_BASE = '<base href="./">'
# What a prefix may be: one or more non-empty path segments of plain characters.
PREFIX = re.compile(r"(/[\w.~%@:+-]+)+")

routes = web.RouteTableDef()


@routes.get("/")
async def chat_page(request: web.Request) -> web.Response:
    """The chat page; its script and style come from `static/`, under the page's base."""
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return web.Response(
        text=page.replace(DEFAULT_BASE, base_tag(request.headers.get("X-Forwarded-Prefix", ""))),
        content_type="text/html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


def base_tag(prefix: str) -> str:
    """`<base href="PREFIX/">` for a proxy's `X-Forwarded-Prefix` (jupyter-server-proxy sends
    `/user/alice/proxy/PORT`), else the page's own `./`. With it, the page's relative URLs
    work even when it was opened without its trailing slash (`.../proxy/PORT`), which the
    proxy passes on as `/` too. Anything but a plain path is ignored."""
    if not PREFIX.fullmatch(prefix):
        return DEFAULT_BASE
    return f'<base href="{html.escape(prefix, quote=True)}/">'


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

"""`GET /`: the chat page, plain HTML, CSS and JavaScript served as files.

The page reads its token from the URL fragment (`/#token=...`), which browsers never send,
so the server never writes a token into HTML.
"""

from __future__ import annotations

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


routes.static("/static", STATIC_DIR)

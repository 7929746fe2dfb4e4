"""The error middleware: JSON for every error, quiet about clients that left."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from sse_lab.server.bodies import json_errors


async def serve(handler, http: aiohttp.ClientSession):
    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with http.get(f"http://127.0.0.1:{runner.addresses[0][1]}/") as response:
            return response.status, await response.text()
    finally:
        await runner.cleanup()


async def test_an_unexpected_exception_is_a_500_without_a_traceback(http, caplog) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise KeyError("secret internals")

    status, body = await serve(broken, http)
    assert (status, body) == (500, '{"error": "internal server error"}')
    assert "unhandled error in GET /" in caplog.text  # but the log has it, for the operator


async def test_a_client_that_left_is_not_logged_as_a_server_error(http, caplog) -> None:
    async def client_left(request: web.Request) -> web.Response:
        raise ConnectionResetError("Cannot write to closing transport")

    caplog.set_level(logging.INFO)
    status, _ = await serve(client_left, http)
    assert status == 499
    assert "unhandled error" not in caplog.text

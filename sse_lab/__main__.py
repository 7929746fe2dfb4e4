"""`python -m sse_lab serve`: the lab server on a port of your choosing, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
from dataclasses import replace

from aiohttp import web

from sse_lab.config import TOKEN_DELAY, Settings, Upstream
from sse_lab.launch import bind
from sse_lab.server.app import create_app, freeze_heap, runner_for


def _token(text: str) -> tuple[str, str]:
    name, sep, token = text.partition("=")
    if not sep or not name or not token:
        raise argparse.ArgumentTypeError(f"expected NAME=TOKEN, got {text!r}")
    return name, token


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of CONTRACT.md."""
    parser = argparse.ArgumentParser(prog="python -m sse_lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the lab: demo stream, chat, built-in model")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--token", type=_token, action="append", metavar="NAME=TOKEN", default=[])
    serve.add_argument("--db", default="sse_lab.db", help="SQLite file for the answers")
    serve.add_argument(
        "--token-delay", type=float, default=TOKEN_DELAY, help="built-in model pace, s"
    )
    serve.add_argument(
        "--stream-secret",
        default=os.environ.get("SSE_LAB_STREAM_SECRET"),
        help="signs the short-lived stream tokens; give every worker the same one "
        "(default: $SSE_LAB_STREAM_SECRET, else random)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted; print the URL and the tokens it accepts."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = Settings(db_path=args.db, upstream=Upstream.from_env(), token_delay=args.token_delay)
    if args.token:
        settings = replace(settings, users=dict(args.token))
    if args.stream_secret:
        settings = replace(settings, stream_secret=args.stream_secret)
    sock, url, settings = bind(settings, args.host, args.port)
    model = settings.upstream.model
    where = "built in" if settings.upstream.base_url == f"{url}/v1" else settings.upstream.base_url
    print(f"SSE Lab serving on {url}  (model {model}, {where}; answers in {args.db})")
    for user, token in settings.users.items():
        print(f"  user {user}: Authorization: Bearer {token}  (chat page: {url}/#token={token})")
    print("Ctrl-C stops it.", flush=True)
    app = create_app(settings)
    app.on_startup.append(freeze_heap)
    asyncio.run(_serve(app, sock))


async def _serve(app: web.Application, sock: socket.socket) -> None:
    """Serve `app` on `sock` until SIGINT (Ctrl-C) or SIGTERM, then stop cleanly. Not
    `web.run_app`: it builds its own runner, without the lab's guarded connections."""
    runner = runner_for(app)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.SockSite(runner, sock).start()
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    main()

"""`python -m sse_lab serve`: the lab server on a port of your choosing, until Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from dataclasses import replace

import redis

from sse_lab.config import STORE_FORMS, TOKEN_DELAY, Settings, Upstream, check_store, redacted
from sse_lab.lab.launch import bind, browser_address
from sse_lab.startup import StartupError, check_database, raise_open_file_limit
from sse_lab.workers import serve, start_workers, wait_for


def _token(text: str) -> tuple[str, str]:
    name, sep, token = text.partition("=")
    if not sep or not name or not token:
        raise argparse.ArgumentTypeError(f"expected NAME=TOKEN, got {text!r}")
    return name, token


def _store(text: str) -> str:
    if not text:
        return ""  # the SQLite file of --db
    try:
        return check_store(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: `serve` (the lab server), as the README shows it."""
    parser = argparse.ArgumentParser(prog="python -m sse_lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the lab: demo stream, chat, built-in model")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--token",
        type=_token,
        action="append",
        metavar="NAME=TOKEN",
        help="a user and their token (default: $SSE_LAB_TOKENS, NAME=TOKEN,NAME=TOKEN, else two"
        " demo users); every user of the machine can read a command line, not the environment",
    )
    serve.add_argument("--db", default="sse_lab.db", help="SQLite file for the answers")
    serve.add_argument(
        "--store",
        type=_store,
        default=os.environ.get("SSE_LAB_STORE", ""),
        metavar="redis://HOST:PORT/DB",
        help=f"keep the answers in Redis instead, shared by workers: {STORE_FORMS}"
        " (default: $SSE_LAB_STORE)",
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes on the port (needs --store)"
    )
    serve.add_argument(
        "--token-delay", type=float, default=TOKEN_DELAY, help="built-in model pace, s"
    )
    serve.add_argument(
        "--stream-secret",
        default=os.environ.get("SSE_LAB_STREAM_SECRET"),
        help="signs the short-lived stream tokens; give every worker the same one "
        "(default: $SSE_LAB_STREAM_SECRET, else random)",
    )
    args = parser.parse_args(argv)  # --store's default, $SSE_LAB_STORE, is checked too
    if args.workers < 1:
        serve.error("--workers must be 1 or more")
    if args.workers > 1 and not args.store:
        serve.error("--workers N needs --store redis://...: workers share answers through Redis")
    return args


def users_of(pairs: list[tuple[str, str]] | None) -> dict[str, str]:
    """The users of `--token`, else of $SSE_LAB_TOKENS (NAME=TOKEN,NAME=TOKEN); {} for the
    demo users. ValueError for a user named twice."""
    if pairs is None:
        given = os.environ.get("SSE_LAB_TOKENS", "").split(",")
        pairs = [_token(pair.strip()) for pair in given if pair.strip()]
    users = dict(pairs)
    if len(users) < len(pairs):
        raise ValueError("a user is given more than one token")
    return users


def exposure(address: str) -> list[str]:
    """What the banner says of a server bound to `address`: nothing on loopback, else that
    other machines reach it and that its tokens travel in clear."""
    if ipaddress.ip_address(address).is_loopback:
        return []
    return [
        f"  Listening on {address}: other machines can reach this server, and the tokens below",
        "  travel in clear over plain HTTP. Use the default --host 127.0.0.1 unless you mean it.",
    ]


def reachable(url: str) -> None:
    """Exit with one line naming `url` unless a Redis answers there."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        message = f"sse_lab: cannot reach the answer store at {url}: {exc}"
        raise SystemExit(redacted(message)) from None


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted; print the URL and the tokens it accepts."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    upstream = Upstream.from_env()
    try:
        settings = Settings(
            db_path=args.db, store=args.store, upstream=upstream, token_delay=args.token_delay
        )
        if users := users_of(args.token):
            settings = replace(settings, users=users)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise SystemExit(f"sse_lab: {exc}") from None
    if args.stream_secret:
        settings = replace(settings, stream_secret=args.stream_secret)
    if args.store:
        reachable(args.store)
    try:
        raise_open_file_limit()
        if not args.store:
            check_database(args.db)
        sock, url, settings = bind(settings, args.host, args.port)
    except StartupError as exc:
        raise SystemExit(f"sse_lab: {exc}") from None
    address = sock.getsockname()[0]
    if args.workers > 1:  # the workers listen on the port, each with a socket of its own
        port = sock.getsockname()[1]
        sock.close()
        workers = start_workers(settings, args.host, port, args.workers)
    model = settings.upstream.model
    where = "built in" if settings.upstream.base_url == f"{url}/v1" else settings.upstream.base_url
    answers = redacted(args.store) or args.db
    several = f", {args.workers} worker processes" if args.workers > 1 else ""
    print(f"SSE Lab serving on {url}  (model {model}, {where}; answers in {answers}{several})")
    for line in exposure(address):
        print(line)
    page = browser_address(url, os.environ)  # under a JupyterHub, through its Jupyter server
    for user, token in settings.users.items():
        print(f"  user {user}: Authorization: Bearer {token}  (chat page: {page}#token={token})")
    print("Ctrl-C stops it.", flush=True)
    if args.workers == 1:
        serve(settings, sock)
    else:
        wait_for(workers)


if __name__ == "__main__":
    main()

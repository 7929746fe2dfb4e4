"""Several lab server processes on one port: each worker has a socket of its own bound with
SO_REUSEPORT, so the kernel spreads new connections over them, and all share their answers
through the Redis store (`python -m sse_lab serve --workers N --store redis://...`)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

from aiohttp import web

from sse_lab.config import Settings
from sse_lab.server.app import SERVER_OPTIONS, create_app, freeze_heap


def serve(settings: Settings, sock: socket.socket) -> None:
    """Run the lab server on `sock` until interrupted."""
    app = create_app(settings)
    app.on_startup.append(freeze_heap)
    web.run_app(app, sock=sock, print=None, **SERVER_OPTIONS)


def worker(settings: Settings, host: str, port: int, listening: Event) -> None:
    """One of several worker processes: its own socket on the shared port (SO_REUSEPORT,
    so the kernel spreads connections over the workers), the same settings and tokens."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{os.getpid()}] %(message)s")
    sock = socket.create_server((host, port), reuse_port=True)
    listening.set()  # connections wait in its backlog until the app is up
    serve(settings, sock)


def start_workers(settings: Settings, host: str, port: int, count: int) -> list[BaseProcess]:
    """`count` worker processes on host:port, returned once each listens there."""
    # fork: a worker starts with what this process imported already (seconds on a busy
    # machine, against spawn's fresh interpreter); it has no thread or event loop to copy.
    fork = multiprocessing.get_context("fork")
    started = []
    for _ in range(count):
        listening = fork.Event()
        process = fork.Process(target=worker, args=(settings, host, port, listening))
        process.start()
        started.append((process, listening))
    for process, listening in started:
        while not listening.wait(0.1):
            if not process.is_alive():
                raise SystemExit(f"sse_lab: a worker could not listen on {host}:{port}")
    return [process for process, _ in started]


def wait_for(processes: list[BaseProcess]) -> None:
    """Wait for the workers; Ctrl-C or SIGTERM stops them all, each as a lone server stops."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        # A Ctrl-C in the terminal reached the workers too; a second signal during their
        # shutdown would cut it short, so only those still running after a second get one.
        for process in processes:
            process.join(timeout=1)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=20)
            if process.is_alive():
                process.kill()
                process.join()

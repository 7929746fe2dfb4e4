"""Several lab server processes on one port: each worker has a socket of its own bound with
SO_REUSEPORT, so the kernel spreads new connections over them, and all share their answers
through the Redis store (`python -m sse_lab serve --workers N --store redis://...`).

The command stays as their supervisor: a worker that ends is replaced (one log line says so),
and the workers end with the command, however it ends (a `Lifeline`)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

from aiohttp import web

from sse_lab.config import Settings
from sse_lab.server.app import create_app, freeze_heap, runner_for
from sse_lab.startup import StartupError, listen

log = logging.getLogger("sse_lab.workers")


def serve(settings: Settings, sock: socket.socket, lifeline_fd: int | None = None) -> None:
    """Run the lab server on `sock` until SIGINT (Ctrl-C) or SIGTERM, or until the pipe
    `lifeline_fd` (a worker's `Lifeline`) is closed at its other end; then stop cleanly."""
    app = create_app(settings)
    app.on_startup.append(freeze_heap)
    asyncio.run(_serve(app, sock, lifeline_fd))


async def _serve(app: web.Application, sock: socket.socket, lifeline_fd: int | None) -> None:
    # Not `web.run_app`: it builds its own runner, without the lab's guarded connections.
    runner = runner_for(app)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if lifeline_fd is not None:
        loop.add_reader(lifeline_fd, _orphaned, loop, lifeline_fd, stop)
    try:
        await web.SockSite(runner, sock).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def _orphaned(loop: asyncio.AbstractEventLoop, fd: int, stop: asyncio.Event) -> None:
    # The lifeline is readable: end of file, so the command that holds its other end is gone.
    loop.remove_reader(fd)
    log.warning("the command that started this worker has ended; stopping")
    stop.set()


class Lifeline:
    """A pipe from the command to its workers that nobody writes to: the command holds the
    write end, so when the command ends, however it ends (even `kill -9`), the kernel
    closes that end and each worker reads end-of-file and stops. Linux's
    `prctl(PR_SET_PDEATHSIG)` would do it too, but only on Linux, and it misses a parent
    that died before the child asked; a pipe works on any Unix, with no such race."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()

    def in_worker(self) -> int:
        """In a forked worker: close its copy of the write end (or it would keep itself
        alive); the read end, for `serve` to watch."""
        os.close(self._write)
        return self._read


def worker(settings: Settings, host: str, port: int, listening: Event, lifeline: Lifeline) -> None:
    """One of several worker processes: its own socket on the shared port (SO_REUSEPORT,
    so the kernel spreads connections over the workers), the same settings and tokens;
    it stops as a lone server does, or when the command that started it ends."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{os.getpid()}] %(message)s")
    watched = lifeline.in_worker()
    try:
        sock = listen(host, port, reuse_port=True)
    except StartupError as exc:
        raise SystemExit(f"sse_lab: {exc}") from None
    listening.set()  # connections wait in its backlog until the app is up
    serve(settings, sock, watched)


@dataclass
class Workers:
    """The worker processes of one `serve --workers N` command, and what starts another."""

    settings: Settings
    host: str
    port: int
    lifeline: Lifeline = field(default_factory=Lifeline)
    processes: list[BaseProcess] = field(default_factory=list)
    replaced: deque[float] = field(default_factory=deque)  # when, in the last minute

    def start(self, count: int) -> list[BaseProcess]:
        """Start `count` more workers; return them once each listens on the port."""
        # fork: a worker starts with what this process imported already (seconds on a busy
        # machine, against spawn's fresh interpreter); it has no thread or event loop to copy.
        fork = multiprocessing.get_context("fork")
        started = []
        for _ in range(count):
            listening = fork.Event()
            args = (self.settings, self.host, self.port, listening, self.lifeline)
            process = fork.Process(target=worker, args=args)
            process.start()
            self.processes.append(process)
            started.append((process, listening))
        for process, listening in started:
            while not listening.wait(0.1):
                if not process.is_alive():
                    terminate(self.processes)
                    raise SystemExit(f"sse_lab: a worker could not listen on port {self.port}")
        return [process for process, _ in started]

    def replace(self, ended: BaseProcess) -> None:
        """Start a worker in place of one that ended, and say so in one line; if as many
        have ended within a minute as there are workers, stop them all and exit instead."""
        count = len(self.processes)
        self.processes.remove(ended)
        now = time.monotonic()
        while self.replaced and self.replaced[0] < now - 60:
            self.replaced.popleft()
        how = _how_it_ended(ended)
        if len(self.replaced) >= count:  # a crash at every start would only go round
            terminate(self.processes)
            raise SystemExit(
                f"sse_lab: worker {ended.pid} {how}, and {len(self.replaced)} more ended "
                "within the last minute: the command stops"
            )
        self.replaced.append(now)
        (new,) = self.start(1)
        log.warning("worker %s %s; worker %s replaces it", ended.pid, how, new.pid)


def _how_it_ended(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def start_workers(settings: Settings, host: str, port: int, count: int) -> Workers:
    """`count` worker processes on host:port, returned once each listens there."""
    workers = Workers(settings, host, port)
    workers.start(count)
    return workers


def wait_for(workers: Workers) -> None:
    """Supervise the workers until Ctrl-C or SIGTERM, which stops them all, each as a lone
    server stops; a worker that ends meanwhile is replaced."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C
    try:
        while True:
            ended = wait([process.sentinel for process in workers.processes])
            for process in list(workers.processes):
                if process.sentinel in ended:
                    process.join()
                    workers.replace(process)
    except KeyboardInterrupt:
        # A Ctrl-C in the terminal reached the workers too; a second signal during their
        # shutdown would cut it short, so only those still running after a second get one.
        for process in workers.processes:
            process.join(timeout=1)
        terminate(workers.processes)


def terminate(processes: list[BaseProcess]) -> None:
    """SIGTERM to each worker still running, SIGKILL to one still there 20 s later."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=20)
        if process.is_alive():
            process.kill()
            process.join()

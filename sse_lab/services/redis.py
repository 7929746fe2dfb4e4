"""A local Redis for the lab's tests, benchmarks and notebooks: Debian's `redis-server` on a
free port, its data in a temporary directory of its own, stopped by its process id.

Durability: the append-only file is on (`appendonly yes`, `appendfsync everysec`). Redis
writes each command to the file before it answers, so what it acknowledged survives the
server being stopped, or killed, and started again (`restart()`); only a crash of the whole
machine can lose the last second. No RDB snapshots (`save ""`): the file is the one copy.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sse_lab.services.process import ServiceProcess, find_program, start_process


@dataclass
class RedisServer:
    """A running redis-server: `.url` for clients, `restart()` keeps its data, `stop()` ends it
    and removes its directory."""

    port: int
    data_dir: Path
    _process: ServiceProcess | None = field(repr=False)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(repr=False)

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:PORT/0`, what `--store` and `start_server(store=...)` take."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether redis-server is up."""
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        """Its process id while it runs."""
        return self._process.pid if self._process is not None else None

    def pause(self) -> None:
        """Stop the program (SIGTERM: it flushes its file) but keep its data and port for
        `resume()`: what a Redis restart looks like to its clients."""
        if self._process is not None:
            self._process.stop()
            self._process = None

    def resume(self) -> None:
        """Start it again on the same port and data after `pause()`."""
        if self._process is None:
            self._process = _run(self.port, self.data_dir)

    def restart(self) -> None:
        """`pause()` then `resume()`."""
        self.pause()
        self.resume()

    def stop(self) -> None:
        """End it and remove its data; safe to call twice."""
        self.pause()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_redis(port: int | None = None) -> RedisServer:
    """Start redis-server on 127.0.0.1 (a free port unless given) with its data in a fresh
    temporary directory. MissingProgram (with the install command) if it is not installed."""
    tempdir = tempfile.TemporaryDirectory(prefix="sse-lab-redis-data-")
    try:
        process = _run(port, Path(tempdir.name))
    except BaseException:
        tempdir.cleanup()
        raise
    return RedisServer(process.port, Path(tempdir.name), process, tempdir)


def _run(port: int | None, data_dir: Path) -> ServiceProcess:
    program = find_program("redis-server", "redis-server")

    def argv(workdir: Path, port: int) -> list[str]:
        return [
            program,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            "",  # to its output, which start_process keeps in workdir/output.log
        ]

    return start_process("redis-server", argv, port=port)

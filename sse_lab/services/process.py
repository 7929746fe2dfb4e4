"""One local program run for the lab: started on a free port in a temporary directory,
waited for until it accepts connections, stopped by its process id (and at exit)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_RUNNING: list[ServiceProcess] = []


class MissingProgram(RuntimeError):
    """A program the lab needs is not installed; the message says how to install it."""


def find_program(name: str, debian_package: str) -> str:
    """The path of `name` (also looked for in /usr/sbin, where Debian puts nginx), or
    MissingProgram naming the package to install."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        raise MissingProgram(
            f"{name} is not installed: `sudo apt-get install {debian_package}` (Debian/Ubuntu)"
        )
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def accepts_connections(host: str, port: int) -> bool:
    """Whether something listens on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class ServiceProcess:
    """A started program: its name, port, process and working directory; `stop()` ends it."""

    name: str
    host: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """The program's process id (it leads a process group of its own)."""
        return self.process.pid

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the program wrote to its output."""
        log = self.workdir / "output.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL if it lingers; then remove the directory.
        Safe to call twice."""
        if self.running:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout)
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)  # nginx's workers too, not only its master

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_process(
    name: str,
    argv: Callable[[Path, int], Sequence[str]],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 15.0,
    env: Mapping[str, str] | None = None,
) -> ServiceProcess:
    """Run `argv(workdir, port)` in a fresh temporary directory, with `env` over this
    process's environment, and wait until it listens on host:port; RuntimeError with its
    last output lines if it exits or never listens."""
    port = port or free_port(host)
    tempdir = tempfile.TemporaryDirectory(prefix=f"sse-lab-{name}-")
    workdir = Path(tempdir.name)
    with open(workdir / "output.log", "wb") as output:
        process = subprocess.Popen(
            list(argv(workdir, port)),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends its children too
            env={**os.environ, **(env or {})},
        )
    service = ServiceProcess(name, host, port, workdir, process, tempdir)
    _RUNNING.append(service)
    deadline = time.monotonic() + timeout
    while not accepts_connections(host, port):
        if not service.running or time.monotonic() > deadline:
            tail = service.log_tail()
            service.stop()
            why = "exited" if process.returncode is not None else f"did not listen in {timeout} s"
            raise RuntimeError(f"{name} {why} on port {port}:\n{tail}")
        time.sleep(0.05)
    return service


def running_services() -> list[ServiceProcess]:
    """The programs started here that have not been stopped yet."""
    return list(_RUNNING)


def stop_all() -> None:
    """Stop every program started here (also run when the Python process exits)."""
    for service in reversed(_RUNNING):
        service.stop()


atexit.register(stop_all)

"""Local programs run for the lab: a real process on a free port, stopped by its pid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sse_lab.services.process import (
    MissingProgram,
    accepts_connections,
    find_program,
    running_services,
    start_process,
)


def http_server(workdir: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_a_started_program_listens_until_it_is_stopped_by_its_pid() -> None:
    service = start_process("http.server", http_server)
    assert accepts_connections("127.0.0.1", service.port)
    assert service.workdir.is_dir()
    assert service in running_services()
    service.stop()
    assert not service.running
    assert not accepts_connections("127.0.0.1", service.port)
    assert not service.workdir.exists()
    assert service not in running_services()
    service.stop()  # a second stop is harmless


# In a Python of its own: stop_all here would also stop the programs other tests share.
STOP_ALL_AT_EXIT = """
import sys
from sse_lab.services.process import running_services, start_process, stop_all

def http_server(workdir, port):
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]

first, second, third = (start_process(name, http_server) for name in ("1", "2", "3"))
stop_all()
print(first.running, second.running, running_services())
print(start_process("left for exit", http_server).port)
"""


def test_stop_all_ends_every_program_still_running_and_so_does_exit() -> None:
    run = subprocess.run(
        [sys.executable, "-c", STOP_ALL_AT_EXIT], capture_output=True, text=True, timeout=60
    )
    stopped, left_for_exit = run.stdout.splitlines()
    assert stopped == "False False []"
    assert not accepts_connections("127.0.0.1", int(left_for_exit))


def test_a_program_that_exits_at_once_is_reported_with_its_output() -> None:
    def fails(workdir: Path, port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('no config here'); sys.exit(3)"]

    with pytest.raises(RuntimeError, match=r"(?s)exited.*no config here"):
        start_process("broken", fails, timeout=5)
    assert [s for s in running_services() if s.name == "broken"] == []


def test_a_missing_program_names_the_package_that_brings_it() -> None:
    with pytest.raises(MissingProgram, match="apt-get install no-such-package"):
        find_program("no-such-program-sse-lab", "no-such-package")

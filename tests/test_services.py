"""Local programs run for the lab: a real process on a free port, stopped by its pid."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sse_lab.services.process import (
    MissingProgram,
    accepts_connections,
    find_program,
    running_services,
    start_process,
    stop_all,
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


def test_stop_all_ends_every_program_still_running() -> None:
    first = start_process("first", http_server)
    second = start_process("second", http_server)
    stop_all()
    assert not first.running and not second.running
    assert running_services() == []


def test_a_program_that_exits_at_once_is_reported_with_its_output() -> None:
    def fails(workdir: Path, port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('no config here'); sys.exit(3)"]

    with pytest.raises(RuntimeError, match=r"(?s)exited.*no config here"):
        start_process("broken", fails, timeout=5)
    assert running_services() == []


def test_a_missing_program_names_the_package_that_brings_it() -> None:
    with pytest.raises(MissingProgram, match="apt-get install no-such-package"):
        find_program("no-such-program-sse-lab", "no-such-package")

"""How `python -m sse_lab serve` starts, as real processes: a reason it cannot is one line
on stderr, not a traceback; it serves IPv6 hosts; it takes as many open files as it may;
and a database it cannot write is refused at the start, not found out by a SIGBUS."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sse_lab.services.redis import RedisServer

SERVE = [sys.executable, "-m", "sse_lab", "serve"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}


def refusal(args: list[str], cwd: Path) -> str:
    """Run `serve args`, which must not start: its one line on stderr."""
    done = subprocess.run(
        SERVE + args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert done.stdout == ""  # no banner: it never served
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip()


def start(args: list[str], cwd: Path, **options: object) -> tuple[subprocess.Popen[str], str]:
    """Run `serve args`; the process and the URL its banner names (it listens by then)."""
    server = subprocess.Popen(
        SERVE + args, cwd=cwd, env=ENV, stdout=subprocess.PIPE, text=True, **options
    )
    assert server.stdout is not None
    url = re.search(r"http://\S+:\d+", server.stdout.readline())
    if url is None:
        stop(server)
        pytest.fail("serve printed no URL")
    return server, url[0]


def stop(server: subprocess.Popen[str]) -> int:
    """Ctrl-C to the server, SIGKILL if it lingers; its exit status."""
    server.send_signal(signal.SIGINT)
    try:
        server.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()
    return server.returncode


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "{busy}"], "cannot listen on 127.0.0.1:{busy}: Address already in use"),
        (["--host", "256.1.1.1"], "cannot listen on 256.1.1.1:8000: "),
        (["--port", "70000"], "cannot listen on port 70000: ports are 0 to 65535"),
        (["--db", "/nonexistent/x.db"], "cannot use the database /nonexistent/x.db: no folder"),
    ],
)
def test_a_server_that_cannot_start_says_why_in_one_line(
    args: list[str], says: str, busy_port: int, tmp_path: Path
) -> None:
    line = refusal([a.format(busy=busy_port) for a in args], tmp_path)
    assert line.startswith(f"sse_lab: {says.format(busy=busy_port)}"), line


def test_workers_on_a_busy_port_say_so_in_one_line(
    redis_server: RedisServer, busy_port: int, tmp_path: Path
) -> None:
    args = ["--workers", "2", "--store", redis_server.url, "--port", str(busy_port)]
    line = refusal(args, tmp_path)
    assert line == f"sse_lab: cannot listen on 127.0.0.1:{busy_port}: Address already in use"


def has_ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_serve_on_the_ipv6_loopback(tmp_path: Path) -> None:
    args = ["--host", "::1", "--port", "0", "--db", str(tmp_path / "lab.db")]
    server, url = start([*args, "--token", "carol=carols-own-token"], tmp_path)
    try:
        assert re.fullmatch(r"http://\[::1\]:\d+", url)
        auth = {"Authorization": "Bearer carols-own-token"}
        new = httpx.post(f"{url}/new", json={"prompt": "hi"}, headers=auth)
        assert new.status_code == 201
        # The built-in model is called at the same bracketed URL: the answer ends well.
        answer = httpx.get(f"{url}/sse/{new.json()['id']}", headers=auth, timeout=30)
        assert "event: done" in answer.text
    finally:
        assert stop(server) == 0


SLOW_CLIENTS = 1100  # more than the usual soft limit on open files, 1,024


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 4 * SLOW_CLIENTS,
    reason="the hard limit on open files is too low for this many clients and the test",
)
async def test_a_thousand_slow_clients_leave_room_for_a_normal_request(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2 * SLOW_CLIENTS), hard))
    args = ["--port", "0", "--db", str(tmp_path / "lab.db")]
    with open(tmp_path / "serve.log", "w") as log:
        server, url = start(args, tmp_path, stderr=log, preexec_fn=usual_open_file_limit)
    host, port = url.removeprefix("http://").split(":")
    writers: list[asyncio.StreamWriter] = []
    try:
        for _ in range(SLOW_CLIENTS):  # each sends half a request head, and waits
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /v1/models HTTP/1.1\r\nHost: lab\r\n")
            writers.append(writer)
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(f"{url}/v1/models")).status_code == 200
    finally:
        for writer in writers:
            writer.close()
        stop(server)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def usual_open_file_limit() -> None:
    """In the server's process, before it runs: the soft limit a login shell gives, 1,024."""
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    )


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    """A SQLite file in WAL mode with its -wal and -shm, held open as a running server would;
    whatever a test made immutable is mutable again at the end."""
    path = tmp_path / "lab.db"
    holder = sqlite3.connect(path)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE kept (x)")
    holder.execute("INSERT INTO kept VALUES (1)")
    holder.commit()
    yield path
    for file in (tmp_path, path, Path(f"{path}-shm")):
        subprocess.run(["chattr", "-i", str(file)], capture_output=True, check=False)
    holder.close()


def make_immutable(*files: Path) -> None:
    """`chattr +i`, or a skip saying why it cannot be done here."""
    for file in files:
        try:
            done = subprocess.run(["chattr", "+i", str(file)], capture_output=True, text=True)
        except FileNotFoundError:
            pytest.skip("no chattr here (e2fsprogs) to make a file immutable")
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not possible here: {done.stderr.strip()}")


def test_an_immutable_database_is_refused_in_one_line(database: Path) -> None:
    shm = Path(f"{database}-shm")
    assert shm.exists()
    make_immutable(database, shm)
    line = refusal(["--port", "0", "--db", str(database)], database.parent)
    assert line.startswith(f"sse_lab: the database file {database} is not writable"), line


def test_a_database_folder_made_immutable_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    make_immutable(folder)
    try:
        line = refusal(["--port", "0", "--db", str(folder / "lab.db")], tmp_path)
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert line.startswith(f"sse_lab: the database's folder {folder} is not writable"), line


def test_a_read_only_database_file_is_refused_in_one_line(database: Path) -> None:
    database.chmod(0o444)
    if os.access(database, os.W_OK):
        pytest.skip("as root, a read-only mode does not stop writes: nothing to refuse")
    line = refusal(["--port", "0", "--db", str(database)], database.parent)
    assert line.startswith(f"sse_lab: the database file {database} is not writable"), line

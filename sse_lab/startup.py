"""What `python -m sse_lab serve` makes sure of before it serves, so that a reason it cannot
is one line rather than a traceback (or a SIGBUS later): a socket on the host, IPv4 or IPv6;
a database it may write; and as many open files as the system allows it."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
from pathlib import Path

# What can make a file unwritable, said after the file's name.
_WHY = " (its mode, an immutable attribute, or a read-only disk)"


class StartupError(Exception):
    """A reason the server cannot start, in one sentence for the command line."""


def http_url(host: str, port: int) -> str:
    """`http://HOST:PORT`, an IPv6 address in brackets: `http://[::1]:8000`."""
    return f"http://{address(host, port)}"


def address(host: str, port: int) -> str:
    """`HOST:PORT`, an IPv6 address in brackets: `[::1]:8000`."""
    return f"[{host}]:{port}" if is_ipv6(host) else f"{host}:{port}"


def is_ipv6(host: str) -> bool:
    """Whether `host` is an IPv6 address (a name, even one for an IPv6 address, is not)."""
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A socket listening on host:port: IPv6 for an IPv6 address (`::` takes IPv4 clients
    too where the system allows), IPv4 otherwise; StartupError naming the address if not."""
    family = socket.AF_INET6 if is_ipv6(host) else socket.AF_INET
    both = host == "::" and socket.has_dualstack_ipv6()
    try:
        return socket.create_server(
            (host, port), family=family, reuse_port=reuse_port, dualstack_ipv6=both
        )
    except OverflowError:
        raise StartupError(f"cannot listen on port {port}: ports are 0 to 65535") from None
    except OSError as exc:  # a port in use, an address not of this machine, a bad name
        # create_server's message ends with the address again, as a tuple: that part goes.
        reason = (exc.strerror or str(exc)).split(" (while attempting")[0]
        raise StartupError(f"cannot listen on {address(host, port)}: {reason}") from None


def raise_open_file_limit() -> None:
    """Raise the soft limit on open files to the hard limit, as servers do: each connection
    takes a descriptor, and at the usual soft limit (1,024) a thousand idle clients would
    hold every one that the margin in `server/guards.py` leaves to the rest."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # macOS refuses an unlimited soft limit: the soft one stays then, still guarded.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def check_database(path: str) -> None:
    """StartupError unless this process may write the SQLite file `path`, its `-wal` and
    `-shm` (those that exist) and their folder (where SQLite creates them).

    The check is the kernel's own (`os.access`): mode bits (which do not bind root), an
    immutable attribute (`chattr +i`, which does) and a read-only mount. SQLite maps `-shm`
    into memory; finding out that it cannot write there mid-stream is a SIGBUS."""
    if path == ":memory:":
        return
    database = Path(path)
    folder = database.parent
    if not folder.is_dir():
        raise StartupError(f"cannot use the database {path}: no folder {folder}")
    for file in (database, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists() and not os.access(file, os.W_OK):
            raise StartupError(f"the database file {file} is not writable{_WHY}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StartupError(f"the database's folder {folder} is not writable{_WHY}")

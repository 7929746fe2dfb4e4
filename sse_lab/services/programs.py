"""The programs from outside Python that notebook 07 drives, and what each one enables.

`make lab` and `make test` run `python -m sse_lab.services.programs --install`: the missing
ones are installed where we may (root and apt-get); elsewhere it says which sections of 07
will not run, and the one command that fixes it. Notebook 00's set-up check lists them too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from sse_lab.services.chromium import find_chromium
from sse_lab.services.process import MissingProgram, find_program


@dataclass(frozen=True, slots=True)
class Program:
    """A command, the Debian package that brings it, and the part of 07 that needs it."""

    command: str
    debian_package: str
    enables: str


PROGRAMS = (
    Program(
        "nginx", "nginx", "a real proxy in front of the server (07 sections 1, 2, 4; HTTP/2 in 3)"
    ),
    Program("openssl", "openssl", "the certificate for HTTP/2 through nginx (07 section 3)"),
    Program("chromium", "chromium", "six connections per origin in a real browser (07 section 3)"),
    Program("redis-server", "redis-server", "several workers sharing answers (07 section 4)"),
)


def is_installed(program: Program) -> bool:
    """Whether the program's command is found (on PATH or in /usr/sbin; Chromium also where
    `find_chromium` looks, Playwright's own download among them)."""
    if program.command == "chromium":
        return find_chromium() is not None
    try:
        find_program(program.command, program.debian_package)
    except MissingProgram:
        return False
    return True


def missing_programs() -> list[Program]:
    """The programs of PROGRAMS this machine lacks."""
    return [program for program in PROGRAMS if not is_installed(program)]


def install_command(programs: list[Program]) -> str:
    """The one command that installs `programs` on Debian or Ubuntu."""
    packages = " ".join(program.debian_package for program in programs)
    return f"sudo apt-get update && sudo apt-get install -y {packages}"


def can_install() -> bool:
    """Whether this process may install Debian packages itself: root, with apt-get."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(programs: list[Program]) -> None:
    """Install `programs` with apt-get (as root), quietly."""
    packages = [program.debian_package for program in programs]
    print("installing", " ".join(packages))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def report(programs: list[Program]) -> str:
    """What will not run without `programs`, and the command that fixes it."""
    lines = [f"This machine lacks {len(programs)} program(s) notebook 07 uses:"]
    lines += [f"  {program.command}: {program.enables}" for program in programs]
    lines.append(f"Everything else runs. To run those sections too: {install_command(programs)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """`--install`: install what is missing where we may, else say what will not run."""
    missing = missing_programs()
    if missing and "--install" in argv and can_install():
        install(missing)
        missing = missing_programs()
    if missing:
        print(report(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

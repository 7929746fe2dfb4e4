"""The programs from outside Python that notebooks 07 and 08 drive, and what each enables.

`make lab` and `make test` run `python -m sse_lab.services.programs --install`: the missing
ones are installed where we may (root and apt-get); elsewhere it says which sections of 07
and 08 will not run, and the one command that fixes it. Notebook 00's set-up check lists them too.
A font for Chinese in the plots, not a command so not in PROGRAMS, is installed (or named)
in the same step, and has its line in that check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from sse_lab.services.chromium import find_chromium
from sse_lab.services.process import MissingProgram, find_program


@dataclass(frozen=True, slots=True)
class Program:
    """A command, the Debian package that brings it, and the parts of 07 and 08 that need it."""

    command: str
    debian_package: str
    enables: str


PROGRAMS = (
    Program(
        "nginx",
        "nginx",
        "a real proxy in front of the server (07 sections 1, 2, 4; HTTP/2 in 3; 08 sections 4, 5)",
    ),
    Program("openssl", "openssl", "the certificate for HTTP/2 through nginx (07 section 3)"),
    Program(
        "chromium",
        "chromium",
        "a real browser: six connections per origin (07 section 3), reload and tabs (08 sections"
        " 1, 2)",
    ),
    Program("redis-server", "redis-server", "several workers sharing answers (07 section 4)"),
)


# Debian's Noto Sans CJK: Chinese in plot titles and legends (see sse_lab.cjk_fonts); macOS
# and Windows come with a font of sse_lab.cjk_fonts.CJK_FONTS.
CJK_FONT_PACKAGE = "fonts-noto-cjk"


def lacks_cjk_font() -> bool:
    """Whether matplotlib finds none of the fonts that draw Chinese (cjk_fonts.CJK_FONTS)."""
    from sse_lab.cjk_fonts import cjk_fonts  # matplotlib: imported only when asked

    return not cjk_fonts()


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
    return apt_install_command([program.debian_package for program in programs])


def apt_install_command(packages: Sequence[str]) -> str:
    """The one command that installs the Debian `packages`."""
    return f"sudo apt-get update && sudo apt-get install -y {' '.join(packages)}"


def can_install() -> bool:
    """Whether this process may install Debian packages itself: root, with apt-get."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(packages: list[str]) -> None:
    """Install the Debian `packages` with apt-get (as root), quietly."""
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
    lines = [f"This machine lacks {len(programs)} program(s) notebooks 07 and 08 use:"]
    lines += [f"  {program.command}: {program.enables}" for program in programs]
    lines.append(f"Everything else runs. To run those sections too: {install_command(programs)}")
    return "\n".join(lines)


def font_report() -> str:
    """What a machine without a CJK font draws, and the command that fixes it."""
    return (
        "No font here draws Chinese: Chinese titles and legends in plots show as boxes.\n"
        f"To add one: {apt_install_command([CJK_FONT_PACKAGE])}"
    )


def main(argv: list[str]) -> int:
    """`--install`: install what is missing where we may, else say what will not run."""
    missing, no_font = missing_programs(), lacks_cjk_font()
    if (missing or no_font) and "--install" in argv and can_install():
        font = [CJK_FONT_PACKAGE] if no_font else []
        install([program.debian_package for program in missing] + font)
        missing, no_font = missing_programs(), lacks_cjk_font()
    if missing:
        print(report(missing))
    if no_font:
        print(font_report())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What `make lab` says about the programs notebook 07 drives, when a machine lacks some."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sse_lab.services import programs
from sse_lab.services.programs import PROGRAMS, Program, install_command, missing_programs, report

ABSENT = Program("sse-lab-no-such-program", "sse-lab-no-such-package", "a section (07 section 9)")


def test_every_program_says_which_section_of_07_needs_it() -> None:
    assert {p.command for p in PROGRAMS} == {"nginx", "openssl", "chromium", "redis-server"}
    assert all("(07 section" in p.enables for p in PROGRAMS)


def test_a_missing_program_is_reported_with_its_section_and_the_one_command_that_fixes_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(programs, "PROGRAMS", (*PROGRAMS, ABSENT))
    monkeypatch.setattr(programs, "can_install", lambda: False)
    assert ABSENT in missing_programs()
    assert programs.main(["--install"]) == 0  # a lacking machine still gets its lab
    printed = capsys.readouterr().out
    assert "sse-lab-no-such-program: a section (07 section 9)" in printed
    assert "sudo apt-get update && sudo apt-get install -y sse-lab-no-such-package" in printed


def test_the_report_names_every_missing_package_in_one_command() -> None:
    text = report(list(PROGRAMS))
    assert text.splitlines()[-1].endswith(install_command(list(PROGRAMS)))
    assert "nginx openssl chromium redis-server" in text


def test_a_machine_without_a_cjk_font_is_told_the_package_that_draws_chinese(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(programs, "lacks_cjk_font", lambda: True)
    monkeypatch.setattr(programs, "can_install", lambda: False)
    assert programs.main(["--install"]) == 0
    printed = capsys.readouterr().out
    assert "Chinese titles and legends in plots show as boxes" in printed
    assert printed.rstrip().endswith("sudo apt-get install -y fonts-noto-cjk")


def test_make_lab_on_a_machine_with_everything_says_nothing() -> None:
    if missing_programs():
        pytest.skip(f"this machine lacks {[p.command for p in missing_programs()]}")
    if programs.lacks_cjk_font():
        pytest.skip("this machine lacks a CJK font")
    run = subprocess.run(
        [sys.executable, "-m", "sse_lab.services.programs", "--install"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (run.stdout, run.stderr) == ("", "")

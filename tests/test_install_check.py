"""Notebook 00's set-up check lists every package the lab needs, whatever bounds pyproject
gives it (a lower bound, or a range below the next minor version), and a font for Chinese."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from conftest import load_file

ROOT = Path(__file__).resolve().parent.parent
install_check = load_file(ROOT / "notebooks" / "install_check.py")


def test_every_requirement_of_the_package_and_its_lab_extra_is_checked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["lab"]]
    names = {Requirement(text.split("#")[0]).name for text in wanted}
    assert {name for name, _ in install_check.requirements()} == names


def test_a_range_gives_its_lower_bound() -> None:
    for text, expected in [
        ("aiohttp>=3.10.6,<3.15", ("aiohttp", "3.10.6")),
        ("aiohttp<3.15,>=3.10.6", ("aiohttp", "3.10.6")),  # as the package's metadata has it
        ('playwright>=1.45; extra == "lab"', ("playwright", "1.45")),
        ("openai[aiohttp]>=1.89", ("openai", "1.89")),
    ]:
        match = install_check.REQUIREMENT.match(text)
        assert match is not None and (match[1], match[2]) == expected, text


def test_a_font_that_draws_chinese_is_a_check_line(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sse_lab.cjk_fonts.cjk_fonts", lambda: ["Noto Sans CJK SC"])
    install_check.check_cjk_font()
    assert (
        capsys.readouterr().out == "✅ Noto Sans CJK SC: Chinese in the plots' titles and legends\n"
    )


def test_a_machine_without_one_gets_a_warning_and_the_command(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sse_lab.cjk_fonts.cjk_fonts", lambda: [])
    install_check.check_cjk_font()
    warning, fix = capsys.readouterr().out.splitlines()
    assert warning.startswith("⚠️ no font that draws Chinese") and "boxes" in warning
    assert fix == "   to add it: sudo apt-get update && sudo apt-get install -y fonts-noto-cjk"

"""Which Chromium the lab drives: Debian's, else one on PATH, else Playwright's own download."""

from __future__ import annotations

from pathlib import Path

import pytest

from sse_lab.services.chromium import _playwright_chromium, browser_missing, find_chromium


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No /usr/bin/chromium, an empty directory as the whole PATH, and Playwright's browsers
    kept in an empty directory: the directory that PATH names."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setattr("sse_lab.services.chromium.CHROMIUM", tmp_path / "usr-bin-chromium")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "ms-playwright"))
    return bin_dir


def test_debians_chromium_comes_first(nothing_installed: Path, tmp_path: Path) -> None:
    executable(nothing_installed / "chromium")
    debian = executable(tmp_path / "usr-bin-chromium")

    assert find_chromium() == debian


def test_then_the_names_on_path_in_order(nothing_installed: Path) -> None:
    names = ["google-chrome", "chromium-browser", "chromium"]  # the reverse of the order
    found = []
    for name in names:
        executable(nothing_installed / name)
        found.append(find_chromium())

    assert found == [nothing_installed / name for name in names]


def test_then_the_one_playwright_downloaded(nothing_installed: Path, tmp_path: Path) -> None:
    assert find_chromium() is None
    downloaded = _playwright_chromium()
    assert downloaded.is_relative_to(tmp_path / "ms-playwright")  # Playwright's own layout
    executable(downloaded)

    assert find_chromium() == downloaded


def test_with_none_the_message_names_one_command_that_installs_one(
    nothing_installed: Path, tmp_path: Path
) -> None:
    assert browser_missing() == (
        f"no Chromium at {tmp_path / 'usr-bin-chromium'}, on PATH or from Playwright:"
        " `.venv/bin/python -m playwright install chromium`"
    )
    executable(nothing_installed / "apt-get")  # a Debian or Ubuntu machine
    assert (browser_missing() or "").endswith("`sudo apt-get install chromium`")

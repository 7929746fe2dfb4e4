"""Notebook 04's exercises: each solution passes its check, and the stubs and usual slips fail."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from sse_lab.exercises.limits import check_ask_url_bytes, check_mask_token

SOLUTIONS = Path(__file__).parents[1] / "notebooks" / "solutions"


def load_solution(name: str) -> ModuleType:
    """The module notebooks/solutions/<name>.py, as `%load` would bring it into a notebook."""
    spec = importlib.util.spec_from_file_location(name, SOLUTIONS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_url_bytes_solution_passes(capsys) -> None:
    assert check_ask_url_bytes(load_solution("04_ask_url_bytes").ask_url_bytes)
    assert capsys.readouterr().out.startswith("✅")


def test_the_url_bytes_stub_fails_without_raising(capsys) -> None:
    assert not check_ask_url_bytes(lambda prompt: None)
    assert "returned None" in capsys.readouterr().out


def test_counting_characters_instead_of_bytes_fails(capsys) -> None:
    assert not check_ask_url_bytes(lambda prompt: len("/ask?prompt=" + prompt))
    assert "❌ not yet" in capsys.readouterr().out


def test_the_mask_token_solution_passes(capsys) -> None:
    assert check_mask_token(load_solution("04_mask_token").mask_token)
    assert capsys.readouterr().out.startswith("✅")


def test_the_mask_token_stub_fails_without_raising(capsys) -> None:
    assert not check_mask_token(lambda url: None)
    assert "❌ not yet" in capsys.readouterr().out


def test_masking_everything_after_token_fails(capsys) -> None:
    assert not check_mask_token(lambda url: re.sub(r"token=.*", "token=***", url))
    assert "lang=en" in capsys.readouterr().out


def test_a_check_reports_an_exception_instead_of_raising(capsys) -> None:
    assert not check_mask_token(lambda url: url.split("?")[1].split("=")[99])
    assert "raised IndexError" in capsys.readouterr().out

"""Notebook 04's exercises: each solution passes its check, and the stubs and usual slips fail."""

from __future__ import annotations

import re

from conftest import load_solution

from sse_lab.exercises.limits import check_ask_url_bytes, check_mask_token


def test_the_url_bytes_solution_passes(capsys) -> None:
    assert check_ask_url_bytes(load_solution("04_ask_url_bytes").ask_url_bytes)
    assert capsys.readouterr().out.startswith("✅")


def test_the_url_bytes_stub_fails_without_raising(capsys) -> None:
    assert not check_ask_url_bytes(lambda prompt: None)
    assert "returned None" in capsys.readouterr().out


def test_counting_characters_instead_of_bytes_fails(capsys) -> None:
    assert not check_ask_url_bytes(lambda prompt: len("/ask?prompt=" + prompt))
    assert "❌ not yet" in capsys.readouterr().out


def test_a_byte_count_returned_as_a_str_is_told_to_return_an_int(capsys) -> None:
    solution = load_solution("04_ask_url_bytes")
    assert not check_ask_url_bytes(lambda prompt: str(solution.ask_url_bytes(prompt)))
    out = capsys.readouterr().out
    assert "returned the str '14': return the count as an int" in out
    assert "12 bytes" not in out


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


def test_a_pattern_that_also_masks_access_token_fails(capsys) -> None:
    assert not check_mask_token(lambda url: re.sub(r"token=[^&#]*", "token=***", url))
    out = capsys.readouterr().out
    assert "access_token=***" in out
    assert "match `token=` only right after `?` or `&`" in out

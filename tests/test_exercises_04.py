"""Notebook 04's exercises: each solution passes its check, and the stubs and usual slips fail."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from conftest import load_solution
from sse_lab.lab.exercises.limits import check_ask_url_bytes, check_mask_token


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


def masking_by_round_trip(**urlencode_options: str) -> Callable[[str], str]:
    """A mask that parses the query and writes it again, as a learner might."""

    def mask_token(url: str) -> str:
        parts = urlsplit(url)
        pairs = [(k, "***" if k == "token" else v) for k, v in parse_qsl(parts.query)]
        return urlunsplit(parts._replace(query=urlencode(pairs, **urlencode_options)))

    return mask_token


def test_a_parse_qsl_urlencode_round_trip_is_told_what_it_re_encodes(capsys) -> None:
    assert not check_mask_token(masking_by_round_trip())
    out = capsys.readouterr().out
    assert "`token=***` came back as `token=%2A%2A%2A`" in out
    assert "(parse_qsl, then urlencode) re-encodes every value" in out


def test_a_round_trip_that_keeps_the_stars_is_told_what_else_it_changes(capsys) -> None:
    assert not check_mask_token(masking_by_round_trip(safe="*"))
    out = capsys.readouterr().out
    assert "`next=/chat/2%3Fs=1` came back as `next=%2Fchat%2F2%3Fs%3D1`" in out

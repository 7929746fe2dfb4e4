"""Notebook 04's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from conftest import load_solution
from sse_lab.lab.exercises.limits import check_ask_url_bytes, check_mask_token


def test_the_url_bytes_solution_passes(capsys, said) -> None:
    assert check_ask_url_bytes(load_solution("04_ask_url_bytes").ask_url_bytes)
    assert capsys.readouterr().out == said(
        "✅ ask_url_bytes counts bytes, not characters, as servers do\n",
        "✅ ask_url_bytes 和服务器一样数的是字节，不是字符\n",
    )


def test_the_url_bytes_stub_fails_without_raising(capsys, said) -> None:
    assert not check_ask_url_bytes(lambda prompt: None)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


def test_counting_characters_instead_of_bytes_fails(capsys, said) -> None:
    assert not check_ask_url_bytes(lambda prompt: len("/ask?prompt=" + prompt))
    out = capsys.readouterr().out
    assert said("returned 17, the server counts 21", "返回了 17，服务器算出的是 21") in out
    assert said("`&` and `=` must be percent-encoded", "`&` 和 `=` 必须百分号编码") in out


def test_a_byte_count_returned_as_a_str_is_told_to_return_an_int(capsys, said) -> None:
    solution = load_solution("04_ask_url_bytes")
    assert not check_ask_url_bytes(lambda prompt: str(solution.ask_url_bytes(prompt)))
    out = capsys.readouterr().out
    assert (
        said(
            "returned the str '14': return the count as an int",
            "返回了 str 类型的 '14'：应返回一个 int 类型的数",
        )
        in out
    )
    assert said("12 bytes", "12 个字节") not in out


def test_the_mask_token_solution_passes(capsys, said) -> None:
    assert check_mask_token(load_solution("04_mask_token").mask_token)
    assert capsys.readouterr().out == said(
        "✅ mask_token hides tokens and keeps everything else\n",
        "✅ mask_token 藏起了令牌，其他内容原样保留\n",
    )


def test_the_mask_token_stub_fails_without_raising(capsys, said) -> None:
    assert not check_mask_token(lambda url: None)
    assert said("returned None: return the masked URL", "返回了 None：应返回打码后的 URL") in (
        capsys.readouterr().out
    )


def test_masking_everything_after_token_fails(capsys, said) -> None:
    assert not check_mask_token(lambda url: re.sub(r"token=.*", "token=***", url))
    out = capsys.readouterr().out
    assert "lang=en" in out
    assert said("the parameters after it stay", "后面的参数要保留") in out


def test_a_check_reports_an_exception_instead_of_raising(capsys, said) -> None:
    assert not check_mask_token(lambda url: url.split("?")[1].split("=")[99])
    assert said("raised IndexError", "抛出了 IndexError") in capsys.readouterr().out


def test_a_pattern_that_also_masks_access_token_fails(capsys, said) -> None:
    assert not check_mask_token(lambda url: re.sub(r"token=[^&#]*", "token=***", url))
    out = capsys.readouterr().out
    assert "access_token=***" in out
    assert (
        said(
            "match `token=` only right after `?` or `&`", "只匹配紧跟在 `?` 或 `&` 后面的 `token=`"
        )
        in out
    )


def masking_by_round_trip(**urlencode_options: str) -> Callable[[str], str]:
    """A mask that parses the query and writes it again, as a learner might."""

    def mask_token(url: str) -> str:
        parts = urlsplit(url)
        pairs = [(k, "***" if k == "token" else v) for k, v in parse_qsl(parts.query)]
        return urlunsplit(parts._replace(query=urlencode(pairs, **urlencode_options)))

    return mask_token


def test_a_parse_qsl_urlencode_round_trip_is_told_what_it_re_encodes(capsys, said) -> None:
    assert not check_mask_token(masking_by_round_trip())
    out = capsys.readouterr().out
    assert (
        said("`token=***` came back as `token=%2A%2A%2A`", "`token=***` 变成了 `token=%2A%2A%2A`")
        in out
    )
    assert (
        said(
            "(parse_qsl, then urlencode) re-encodes every value",
            "（parse_qsl 之后 urlencode）会按它自己的方式重新编码每个值",
        )
        in out
    )


def test_a_round_trip_that_keeps_the_stars_is_told_what_else_it_changes(capsys, said) -> None:
    assert not check_mask_token(masking_by_round_trip(safe="*"))
    out = capsys.readouterr().out
    assert (
        said(
            "`next=/chat/2%3Fs=1` came back as `next=%2Fchat%2F2%3Fs%3D1`",
            "`next=/chat/2%3Fs=1` 变成了 `next=%2Fchat%2F2%3Fs%3D1`",
        )
        in out
    )

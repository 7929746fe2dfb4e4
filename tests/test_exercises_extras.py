"""The extra exercises of docs/workshop.md: each solution passes its check, and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

from conftest import load_solution
from sse_lab.lab.exercises.extras import (
    check_encode_event,
    check_longest_prompt,
    check_reconnect_waits,
)
from sse_lab.sse import ServerSentEvent


def test_the_encode_event_solution_passes(capsys, said) -> None:
    assert check_encode_event(load_solution("extra_01_encode_event").encode_event)
    assert capsys.readouterr().out == said(
        "✅ encode_event writes what ServerSentEvent.encode writes, near enough\n",
        "✅ encode_event 写出的和 ServerSentEvent.encode 基本一样\n",
    )


def test_the_library_encoder_passes_the_same_check(capsys) -> None:
    assert check_encode_event(
        lambda data, event, id: ServerSentEvent(data, event or "message", id).encode()
    )
    capsys.readouterr()


def test_one_data_line_for_multi_line_data_is_told_each_line_needs_one(capsys, said) -> None:
    def encode_event(data: str, event: str | None, id: str | None) -> bytes:
        head = (f"event: {event}\n" if event else "") + (f"id: {id}\n" if id else "")
        return f"{head}data: {data}\n\n".encode()

    assert not check_encode_event(encode_event)
    assert (
        said(
            "each line of the data needs its own `data:` line",
            "数据的每一行都需要自己的 `data:` 行",
        )
        in capsys.readouterr().out
    )


def test_data_without_its_space_loses_a_leading_space(capsys, said) -> None:
    encode = load_solution("extra_01_encode_event").encode_event
    assert not check_encode_event(lambda *event: encode(*event).replace(b"data: ", b"data:"))
    assert (
        said("write `data: ` with its space", "写 `data: ` 时带上空格") in capsys.readouterr().out
    )


def test_leaving_out_event_and_id_is_told_to_write_them(capsys, said) -> None:
    assert not check_encode_event(lambda data, event, id: f"data: {data}\n\n".encode())
    assert (
        said("write an `event:` and an `id:` line", "写上 `event:` 行和 `id:` 行")
        in capsys.readouterr().out
    )


def test_the_reconnect_waits_solution_passes(capsys, said) -> None:
    assert check_reconnect_waits(load_solution("extra_02_reconnect_waits").reconnect_waits)
    assert capsys.readouterr().out == said(
        "✅ reconnect_waits backs off as a polite client does\n",
        "✅ reconnect_waits 像一个有礼貌的客户端那样退避\n",
    )


def test_waits_without_a_cap_are_told_the_cap(capsys, said) -> None:
    assert not check_reconnect_waits(
        lambda retry, failures, cap: [retry * 2**n for n in range(failures)]
    )
    assert (
        said("no wait is longer than cap_ms", "任何一次等待都不超过 cap_ms")
        in capsys.readouterr().out
    )


def test_the_longest_prompt_solution_passes(capsys, said) -> None:
    assert check_longest_prompt(load_solution("extra_04_longest_prompt").longest_prompt)
    assert capsys.readouterr().out == said(
        "✅ longest_prompt knows what each character costs in a URL\n",
        "✅ longest_prompt 清楚每个字符在 URL 里占多少字节\n",
    )


def test_counting_utf8_bytes_but_not_percent_signs_fails(capsys, said) -> None:
    assert not check_longest_prompt(lambda char, limit: (limit - 12) // len(char.encode()))
    out = capsys.readouterr().out
    assert said("'&' takes 3 bytes once encoded", "'&' 编码后占 3 个字节") in out

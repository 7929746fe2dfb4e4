"""The extra exercises of docs/workshop.md: each solution passes its check, and usual slips fail."""

from __future__ import annotations

from conftest import load_solution
from sse_lab.lab.exercises.extras import (
    check_encode_event,
    check_longest_prompt,
    check_reconnect_waits,
)
from sse_lab.sse import ServerSentEvent


def test_the_encode_event_solution_passes(capsys) -> None:
    assert check_encode_event(load_solution("extra_01_encode_event").encode_event)
    assert capsys.readouterr().out.startswith("✅")


def test_the_library_encoder_passes_the_same_check(capsys) -> None:
    assert check_encode_event(
        lambda data, event, id: ServerSentEvent(data, event or "message", id).encode()
    )
    capsys.readouterr()


def test_one_data_line_for_multi_line_data_is_told_each_line_needs_one(capsys) -> None:
    def encode_event(data: str, event: str | None, id: str | None) -> bytes:
        head = (f"event: {event}\n" if event else "") + (f"id: {id}\n" if id else "")
        return f"{head}data: {data}\n\n".encode()

    assert not check_encode_event(encode_event)
    assert "each line of the data needs its own `data:` line" in capsys.readouterr().out


def test_data_without_its_space_loses_a_leading_space(capsys) -> None:
    encode = load_solution("extra_01_encode_event").encode_event
    assert not check_encode_event(lambda *event: encode(*event).replace(b"data: ", b"data:"))
    assert "write `data: ` with its space" in capsys.readouterr().out


def test_leaving_out_event_and_id_is_told_to_write_them(capsys) -> None:
    assert not check_encode_event(lambda data, event, id: f"data: {data}\n\n".encode())
    assert "write an `event:` and an `id:` line" in capsys.readouterr().out


def test_the_reconnect_waits_solution_passes(capsys) -> None:
    assert check_reconnect_waits(load_solution("extra_02_reconnect_waits").reconnect_waits)
    assert capsys.readouterr().out.startswith("✅")


def test_waits_without_a_cap_are_told_the_cap(capsys) -> None:
    assert not check_reconnect_waits(
        lambda retry, failures, cap: [retry * 2**n for n in range(failures)]
    )
    assert "no wait is longer than cap_ms" in capsys.readouterr().out


def test_the_longest_prompt_solution_passes(capsys) -> None:
    assert check_longest_prompt(load_solution("extra_04_longest_prompt").longest_prompt)
    assert capsys.readouterr().out.startswith("✅")


def test_counting_utf8_bytes_but_not_percent_signs_fails(capsys) -> None:
    assert not check_longest_prompt(lambda char, limit: (limit - 12) // len(char.encode()))
    assert "'&' takes 3 bytes once encoded" in capsys.readouterr().out

"""Notebook 07's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from conftest import load_solution, unavailable
from sse_lab import fetch_event_source
from sse_lab.lab.exercises.production import check_read_to_the_end, check_time_to_first_delta
from sse_lab.services.nginx import nginx_missing


@pytest.fixture(autouse=True)
def needs_nginx() -> None:
    if missing := nginx_missing():
        unavailable(missing)


async def post(url: str, token: str, prompt: str) -> tuple[aiohttp.ClientSession, str]:
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
    async with session.post(f"{url}/new", json={"prompt": prompt}) as response:
        return session, url + (await response.json())["stream_url"]


async def test_the_time_to_first_delta_solution_passes(capsys, said) -> None:
    solution = load_solution("07_time_to_first_delta").time_to_first_delta
    assert await check_time_to_first_delta(solution)
    out = capsys.readouterr().out
    assert out.startswith("✅ time_to_first_delta: ")
    assert said(" s straight from the lab server; ", " 秒；") in out


async def test_the_time_to_first_delta_stub_fails_without_raising(capsys, said) -> None:
    async def time_to_first_delta(url: str, token: str, prompt: str) -> None:
        return None

    assert not await check_time_to_first_delta(time_to_first_delta)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


async def test_milliseconds_are_told_to_be_seconds(capsys, said) -> None:
    solution = load_solution("07_time_to_first_delta").time_to_first_delta

    async def time_to_first_delta(url: str, token: str, prompt: str) -> float:
        return await solution(url, token, prompt) * 1000

    assert not await check_time_to_first_delta(time_to_first_delta)
    assert said("seconds, not milliseconds", "要的是秒，不是毫秒") in capsys.readouterr().out


async def test_timing_the_whole_stream_is_told_to_stop_at_the_first_delta(capsys, said) -> None:
    async def time_to_first_delta(url: str, token: str, prompt: str) -> float:
        started = time.monotonic()
        session, stream_url = await post(url, token, prompt)
        async with session:
            [event async for event in fetch_event_source(stream_url, session=session)]
        return time.monotonic() - started

    assert not await check_time_to_first_delta(time_to_first_delta)
    assert said("not at the end of the stream", "而不是在流结束时") in capsys.readouterr().out


async def test_the_read_to_the_end_solution_passes(capsys, said) -> None:
    assert await check_read_to_the_end(load_solution("07_read_to_the_end").read_to_the_end)
    assert capsys.readouterr().out == said(
        "✅ read_to_the_end came back after every cut, and lost nothing\n",
        "✅ read_to_the_end 每次被切断后都重连回来了，一点没丢\n",
    )


async def test_the_read_to_the_end_stub_fails_without_raising(capsys, said) -> None:
    async def read_to_the_end(stream_url: str, token: str) -> None:
        return None

    assert not await check_read_to_the_end(read_to_the_end)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


def deltas(events: list) -> str:
    return "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")


async def test_reading_once_is_told_that_nginx_cut_the_stream(capsys, said) -> None:
    async def read_to_the_end(stream_url: str, token: str) -> str:
        headers = {"Authorization": f"Bearer {token}"}
        return deltas([e async for e in fetch_event_source(stream_url, headers=headers)])

    assert not await check_read_to_the_end(read_to_the_end)
    assert said("catch it and reconnect", "捕获它然后重连") in capsys.readouterr().out


async def test_reconnecting_without_last_event_id_is_told_to_send_it(capsys, said) -> None:
    async def read_to_the_end(stream_url: str, token: str) -> str:
        headers = {"Authorization": f"Bearer {token}"}
        events: list = []
        while not any(e.event == "done" for e in events):
            try:
                async for event in fetch_event_source(stream_url, headers=headers):
                    events.append(event)
            except aiohttp.ClientPayloadError:
                pass
        return deltas(events)

    assert not await check_read_to_the_end(read_to_the_end)
    assert said("without Last-Event-ID", "没带 Last-Event-ID") in capsys.readouterr().out


@pytest.mark.parametrize("check", [check_time_to_first_delta, check_read_to_the_end])
async def test_a_machine_without_nginx_is_told_so_not_the_learner(
    check, monkeypatch: pytest.MonkeyPatch, capsys, said
) -> None:
    lacking = "nginx is not installed: `sudo apt-get install nginx` (Debian/Ubuntu)"
    monkeypatch.setattr("sse_lab.lab.exercises.production.nginx_missing", lambda: lacking)
    solution = load_solution("07_time_to_first_delta").time_to_first_delta
    assert not await check(solution)
    printed = capsys.readouterr().out
    cannot = said("this check cannot run on this machine: ", "这台机器上运行不了这个检查：")
    assert printed == f"⚠️ {cannot}{lacking}\n"
    assert "❌" not in printed


async def test_stopping_the_clock_at_the_headers_is_told_so(capsys, said) -> None:
    async def time_to_first_delta(url: str, token: str, prompt: str) -> float:
        started = time.monotonic()
        session, stream_url = await post(url, token, prompt)
        async with session, session.get(stream_url):  # returns once the headers are in
            return time.monotonic() - started

    assert not await check_time_to_first_delta(time_to_first_delta)
    out = capsys.readouterr().out
    assert (
        said(
            "you stopped the clock when the headers arrived, not at the first `message`",
            "你在响应头到达时就停止了计时，而不是在第一个 `message` 事件时",
        )
        in out
    )

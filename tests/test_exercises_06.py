"""Notebook 06's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from conftest import load_solution
from sse_lab import EventStreamParser, ServerSentEvent, fetch_event_source
from sse_lab.lab.exercises.post_then_sse import check_ask_and_stream, check_resume
from sse_lab.lab.launch import start_server


async def texts(url: str, headers: dict[str, str]) -> list[str]:
    """The raw `data` of every event of one GET of an event stream."""
    return [event.data async for event in fetch_event_source(url, headers=headers)]


async def post_new(url: str, token: str, **request: Any) -> Any:
    """A learner's POST /new (`json=...` or `data=...`): the JSON the server answered."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(f"{url}/new", **request) as response,
    ):
        return await response.json()


async def test_the_ask_and_stream_solution_passes(capsys, said) -> None:
    assert await check_ask_and_stream(load_solution("06_ask_and_stream").ask_and_stream)
    assert capsys.readouterr().out == said(
        "✅ ask_and_stream asks with POST /new and streams the answer\n",
        "✅ ask_and_stream 用 POST /new 提问，并流式读取回答\n",
    )


async def test_the_ask_and_stream_stub_fails_without_raising(capsys, said) -> None:
    async def ask_and_stream(url: str, token: str, prompt: str) -> None:
        return None

    assert not await check_ask_and_stream(ask_and_stream)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


async def test_forgetting_the_token_is_told_to_send_it(capsys, said) -> None:
    async def ask_and_stream(url: str, token: str, prompt: str) -> str:
        async with aiohttp.ClientSession() as session:
            response = await session.post(f"{url}/new", json={"prompt": prompt})
            response.raise_for_status()
            return ""

    assert not await check_ask_and_stream(ask_and_stream)
    assert (
        said("HTTP 401: send the header Authorization", "HTTP 401：发送请求头 Authorization")
        in capsys.readouterr().out
    )


async def test_a_prompt_sent_without_a_json_content_type_is_told_so(capsys, said) -> None:
    async def ask_and_stream(url: str, token: str, prompt: str) -> str:
        created = await post_new(url, token, data=json.dumps({"prompt": prompt}))  # a 415
        headers = {"Authorization": f"Bearer {token}"}
        return "".join(await texts(url + created.get("stream_url", "/sse/none"), headers))

    assert not await check_ask_and_stream(ask_and_stream)
    out = capsys.readouterr().out
    assert (
        said(
            "the POST /new body came as text/plain: send it with json=...",
            "POST /new 的请求体是以 text/plain 发来的：用 json=... 发送",
        )
        in out
    )


async def test_streaming_the_eventsource_url_without_a_header_passes(capsys, said) -> None:
    async def ask_and_stream(url: str, token: str, prompt: str) -> str:
        created = await post_new(url, token, json={"prompt": prompt})
        events = await texts(url + created["eventsource_url"], {})  # a browser's way
        return "".join(json.loads(data)["delta"] for data in events[:-1])

    assert await check_ask_and_stream(ask_and_stream)
    assert capsys.readouterr().out.startswith(
        said("✅ ask_and_stream asks", "✅ ask_and_stream 用")
    )


async def test_joining_the_raw_data_is_told_to_take_the_delta(capsys, said) -> None:
    async def ask_and_stream(url: str, token: str, prompt: str) -> str:
        stream_url = url + (await post_new(url, token, json={"prompt": prompt}))["stream_url"]
        return "".join((await texts(stream_url, {"Authorization": f"Bearer {token}"}))[:-1])

    assert not await check_ask_and_stream(ask_and_stream)
    assert said("join the `delta`", "`delta` 拼接起来") in capsys.readouterr().out


async def test_the_query_string_design_is_not_accepted(capsys, said) -> None:
    async def ask_and_stream(url: str, token: str, prompt: str) -> str:
        events = await texts(f"{url}/ask?{urlencode({'prompt': prompt})}", {})
        return "".join(json.loads(data)["delta"] for data in events[:-1])

    assert not await check_ask_and_stream(ask_and_stream)
    assert said("no POST /new", "没有收到 POST /new") in capsys.readouterr().out


async def test_the_resume_solution_passes(capsys, said) -> None:
    assert await check_resume(load_solution("06_resume").resume)
    assert capsys.readouterr().out == said(
        "✅ resume picks up right after the last event seen\n",
        "✅ resume 从看到的最后一个事件之后接着读\n",
    )


async def test_the_resume_stub_fails_without_raising(capsys, said) -> None:
    async def resume(url: str, token: str, answer_id: str, last_event_id: str) -> None:
        return None

    assert not await check_resume(resume)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


async def test_resuming_without_last_event_id_gets_everything_again(capsys, said) -> None:
    async def resume(url: str, token: str, answer_id: str, last_event_id: str) -> str:
        headers = {"Authorization": f"Bearer {token}"}
        events = await texts(f"{url}/sse/{answer_id}", headers)
        return "".join(json.loads(data)["delta"] for data in events[:-1])

    assert not await check_resume(resume)
    out = capsys.readouterr().out
    assert said("returned the whole answer again", "又返回了整个回答") in out
    assert "Last-Event-ID: 5" in out


async def test_resuming_with_the_query_parameter_of_npms_polyfill_passes(capsys, said) -> None:
    async def resume(url: str, token: str, answer_id: str, last_event_id: str) -> str:
        headers = {"Authorization": f"Bearer {token}"}
        stream_url = f"{url}/sse/{answer_id}?lastEventId={last_event_id}"
        events = [event async for event in fetch_event_source(stream_url, headers=headers)]
        return "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")

    assert await check_resume(resume)
    assert capsys.readouterr().out.startswith(said("✅ resume picks up", "✅ resume 从"))


async def test_treating_the_204_as_a_failure_is_told_why_it_comes(capsys, said) -> None:
    async def resume(url: str, token: str, answer_id: str, last_event_id: str) -> str:
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": last_event_id}
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.get(f"{url}/sse/{answer_id}") as response,
        ):
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            events = EventStreamParser().feed(await response.read())
        return "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")

    assert not await check_resume(resume)
    assert said("gets 204 No Content", "会得到 204 No Content") in capsys.readouterr().out


def reading_stream_url_unchecked(base_url: str | None = None, path: str = "/new", auth=True):
    """An ask_and_stream that reads `stream_url` from whatever POST {base_url or url}{path}
    answered, without looking at the status (as a learner might)."""

    async def ask_and_stream(url: str, token: str, prompt: str) -> str:
        headers = {"Authorization": f"Bearer {token}"} if auth else {}
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.post(f"{base_url or url}{path}", json={"prompt": prompt}) as response,
        ):
            created = await response.json()
        return "".join(await texts(url + created["stream_url"], headers))

    return ask_and_stream


async def test_a_refused_post_is_told_its_status_and_error_not_a_key_error(capsys, said) -> None:
    assert not await check_ask_and_stream(reading_stream_url_unchecked(auth=False))
    out = capsys.readouterr().out
    assert (
        said(
            "raised KeyError: 'stream_url', because POST http://127.0.0.1:",
            "抛出了 KeyError：'stream_url'，因为 POST http://127.0.0.1:",
        )
        in out
    )
    assert (
        said(
            '/new was answered 401 Unauthorized: "missing or wrong token',
            '/new 得到的响应是 401 Unauthorized: "missing or wrong token',
        )
        in out
    )
    assert (
        said(
            "the POST /new carried no Authorization header", "POST /new 没有带 Authorization 请求头"
        )
        in out
    )
    assert (
        said(
            "check the status, e.g. response.raise_for_status()",
            "先检查状态码，例如 response.raise_for_status()",
        )
        in out
    )


async def test_a_post_to_a_wrong_route_is_told_its_status_and_the_route(capsys, said) -> None:
    assert not await check_ask_and_stream(reading_stream_url_unchecked(path="/api/new"))
    out = capsys.readouterr().out
    assert (
        said(
            "/api/new was answered 404 Not Found: 'not found'",
            "/api/new 得到的响应是 404 Not Found: 'not found'",
        )
        in out
    )
    assert said("POST the prompt to http://127.0.0.1:", "把提问 POST 到 http://127.0.0.1:") in out


async def test_a_post_to_another_server_is_told_to_use_the_url_given(capsys, said) -> None:
    with start_server(token_delay=0) as notebooks_lab:  # the lab the notebook started itself
        check = check_ask_and_stream(reading_stream_url_unchecked(base_url=notebooks_lab.url))
        assert not await check
    out = capsys.readouterr().out
    answered = said("was answered", "得到的响应是")
    assert f"POST {notebooks_lab.url}/new {answered} 401 Unauthorized" in out
    assert said("send it to the `url` your function is given", "请求要发到传给函数的 `url`") in out


def resuming_with(text_of: Callable[[list[ServerSentEvent]], str]):
    """A resume that sends Last-Event-ID as it should, then makes its text with `text_of`."""

    async def resume(url: str, token: str, answer_id: str, last_event_id: str) -> str:
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": last_event_id}
        stream_url = f"{url}/sse/{answer_id}"
        return text_of([event async for event in fetch_event_source(stream_url, headers=headers)])

    return resume


@pytest.mark.parametrize(
    ("text_of", "told"),
    [
        (
            lambda events: "".join(e.data for e in events[:-1]),
            ("join the `delta`", "`delta` 拼接起来"),
        ),
        (
            lambda events: "".join(
                json.loads(e.data)["delta"] if e.event == "message" else e.data for e in events
            ),
            ("kept the `done` event's data", "保留了 `done` 事件的数据"),
        ),
    ],
    ids=["raw data", "done kept"],
)
async def test_a_resume_that_sends_last_event_id_gets_no_hint_about_it(
    text_of, told: tuple[str, str], capsys, said
) -> None:
    assert not await check_resume(resuming_with(text_of))
    out = capsys.readouterr().out
    assert said(*told) in out and "Last-Event-ID" not in out

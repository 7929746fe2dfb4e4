"""Notebook 05's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from conftest import load_solution
from sse_lab import EventStreamParser, ServerSentEvent
from sse_lab.lab.exercises.polyfills import check_collect_text, check_post_events


async def test_the_post_events_solution_passes(capsys, said) -> None:
    assert await check_post_events(load_solution("05_post_events").post_events)
    assert capsys.readouterr().out == said(
        "✅ post_events reads a streamed POST response\n", "✅ post_events 能读取流式的 POST 响应\n"
    )


async def test_the_post_events_stub_fails_without_raising(capsys, said) -> None:
    async def post_events(url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        return None

    assert not await check_post_events(post_events)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


async def test_a_reader_that_forgets_the_headers_is_told_so(capsys, said) -> None:
    async def post_events(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[Any]:
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
            return [] if response.status == 401 else [await response.text()]

    assert not await check_post_events(post_events)
    assert (
        said("the server answered 401: send the headers", "服务器返回了 401：发送传给你的请求头")
        in capsys.readouterr().out
    )


async def test_a_body_sent_without_a_json_content_type_is_told_so(capsys, said) -> None:
    async def post_events(
        url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> list[ServerSentEvent]:
        parser = EventStreamParser()
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=json.dumps(body), headers=headers) as response,
        ):
            return parser.feed(await response.read())

    assert not await check_post_events(post_events)
    out = capsys.readouterr().out
    assert (
        said(
            "the server answered 415: the body came as text/plain",
            "服务器返回了 415：请求体是以 text/plain 发来的",
        )
        in out
    )
    assert said("json=body, not data=", "用 json=body 发送，而不是 data=") in out


async def test_a_reader_that_raises_on_a_refusal_is_told_why_it_was_refused(capsys, said) -> None:
    async def post_events(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[Any]:
        async with (
            aiohttp.ClientSession(raise_for_status=True) as session,
            session.post(url, json={"prompt": "words"}, headers=headers),
        ):
            return []

    assert not await check_post_events(post_events)
    out = capsys.readouterr().out
    assert said("raised ClientResponseError", "抛出了 ClientResponseError") in out
    assert said("the server answered 400", "服务器返回了 400") in out


async def test_splitting_the_body_on_blank_lines_by_hand_fails(capsys, said) -> None:
    async def post_events(
        url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> list[ServerSentEvent]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            text = await response.text()
        return [ServerSentEvent(data=block) for block in text.split("\n\n") if block]

    assert not await check_post_events(post_events)
    assert said("❌ not yet", "❌ 还没通过") in capsys.readouterr().out


async def test_the_collect_text_solution_passes(capsys, said) -> None:
    assert await check_collect_text(load_solution("05_collect_text").collect_text)
    assert capsys.readouterr().out == said(
        "✅ collect_text joins the deltas and stops at [DONE]\n",
        "✅ collect_text 拼接了增量，并在 [DONE] 处停下\n",
    )


async def test_the_collect_text_stub_fails_without_raising(capsys, said) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> None:
        return None

    assert not await check_collect_text(collect_text)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


async def test_reading_past_done_fails(capsys, said) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
        pieces = []
        async for event in events:
            if event.data != "[DONE]":
                for choice in json.loads(event.data)["choices"]:
                    pieces.append(choice["delta"].get("content") or "")
        return "".join(pieces)

    assert not await check_collect_text(collect_text)
    assert said("after data: [DONE]", "在 data: [DONE] 之后还在读") in capsys.readouterr().out


def collecting(content_of: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """A collect_text that stops at [DONE] and reads each choice's text with `content_of`."""

    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
        pieces = []
        async for event in events:
            if event.data == "[DONE]":
                break
            for choice in json.loads(event.data)["choices"]:
                pieces.append(content_of(choice["delta"]))
        return "".join(pieces)

    return collect_text


@pytest.mark.parametrize(
    ("content_of", "hint"),
    [
        (
            lambda delta: delta.get("content", ""),
            ('"content": null, which is None', '"content" 是 null，在 Python 里就是 None'),
        ),
        (
            lambda delta: delta["content"] or "",
            ('delta is {}, with no "content"', 'delta 是 {}，没有 "content"'),
        ),
    ],
    ids=["a default that null gets past", "a delta without content"],
)
async def test_a_content_read_that_raises_is_named(capsys, said, content_of, hint) -> None:
    assert not await check_collect_text(collecting(content_of))
    out = capsys.readouterr().out
    assert said("collect_text raised", "collect_text 抛出了") in out
    assert said(*hint) in out


async def test_the_same_loop_with_a_null_safe_read_passes(capsys) -> None:
    assert await check_collect_text(collecting(lambda delta: delta.get("content") or ""))


async def test_a_null_content_added_to_the_text_is_named(capsys, said) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
        text = ""
        async for event in events:
            if event.data == "[DONE]":
                break
            for choice in json.loads(event.data)["choices"]:
                text += choice["delta"].get("content", "")
        return text

    assert not await check_collect_text(collect_text)
    assert (
        said('"content": null, which is None', '"content" 是 null，在 Python 里就是 None')
        in capsys.readouterr().out
    )


async def test_taking_the_first_choice_of_the_usage_chunk_is_named(capsys, said) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
        pieces = []
        async for event in events:
            if event.data == "[DONE]":
                break
            pieces.append(json.loads(event.data)["choices"][0]["delta"].get("content") or "")
        return "".join(pieces)

    assert not await check_collect_text(collect_text)
    assert said('"choices": [], so [0] fails', '"choices" 是 []，所以 [0] 会出错') in (
        capsys.readouterr().out
    )


async def test_parsing_done_as_json_is_named(capsys, said) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
        pieces = []
        async for event in events:
            for choice in json.loads(event.data)["choices"]:
                pieces.append(choice["delta"].get("content") or "")
        return "".join(pieces)

    assert not await check_collect_text(collect_text)
    assert said("data: [DONE] is not JSON", "data: [DONE] 不是 JSON") in capsys.readouterr().out


async def test_reading_message_instead_of_delta_is_told_a_chunk_has_delta(capsys, said) -> None:
    async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
        pieces = []
        async for event in events:
            if event.data == "[DONE]":
                break
            for choice in json.loads(event.data)["choices"]:
                pieces.append(choice["message"]["content"] or "")
        return "".join(pieces)

    assert not await check_collect_text(collect_text)
    out = capsys.readouterr().out
    assert said("raised ", "抛出了 ") + "KeyError('message')" in out
    assert (
        said("a streamed chunk has `delta`, not `message`", "流式的块里是 `delta`，不是 `message`")
        in out
    )


@pytest.mark.parametrize("chunk_bytes", [None, 64], ids=["as they come", "64 bytes at a time"])
async def test_a_new_parser_per_chunk_is_told_to_keep_one_for_the_stream(
    chunk_bytes: int | None, capsys, said
) -> None:
    async def post_events(
        url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            content = response.content
            chunks = content.iter_chunked(chunk_bytes) if chunk_bytes else content.iter_any()
            async for chunk in chunks:
                events.extend(EventStreamParser().feed(chunk))  # a new parser each time
        return events

    assert not await check_post_events(post_events)
    out = capsys.readouterr().out
    assert (
        said(
            "an event split across chunks is lost: keep one parser for the whole stream",
            "跨数据块的事件丢了：整个流只用一个解析器",
        )
        in out
    )


async def test_leaving_out_the_done_event_is_told_to_return_every_event(capsys, said) -> None:
    solution = load_solution("05_post_events").post_events

    async def post_events(url: str, body: dict[str, Any], headers: dict[str, str]) -> list:
        return [e for e in await solution(url, body, headers) if e.event == "message"]

    assert not await check_post_events(post_events)
    out = capsys.readouterr().out
    assert (
        said(
            "5 events, expected 6: return every event, whatever its type (`done` too)",
            "5 个事件，应为 6 个：返回所有事件，不管什么类型（`done` 也要）",
        )
        in out
    )

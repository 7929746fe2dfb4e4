"""The built-in model: deterministic tokens, answers chosen by the topics a prompt names."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sse_lab.model
from sse_lab.lab.launch import LabServer
from sse_lab.model import answer_tokens, tokenize
from sse_lab.sse import EventStreamParser

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path(sse_lab.model.__file__).parent
HAN = re.compile("[\u4e00-\u9fff]")


def answer(prompt: str) -> str:
    return "".join(answer_tokens(prompt))


@given(st.text())
def test_tokens_join_back_to_the_exact_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


def test_tokens_are_word_pieces_with_their_leading_space() -> None:
    assert tokenize("Server-Sent Events let EventSource") == [
        "Server",
        "-",
        "Sent",
        " Events",
        " let",
        " Event",
        "Source",
    ]


def test_the_same_prompt_always_gets_the_same_tokens() -> None:
    prompt = "How does reconnection work?"
    assert answer_tokens(prompt) == answer_tokens(prompt)


def test_keywords_match_whatever_the_case() -> None:
    assert answer("HOW DO WEBSOCKETS COMPARE?") == answer("how do websockets compare?")


def test_a_reconnection_question_gets_last_event_id_and_retry() -> None:
    text = answer("How does the browser reconnect after a drop?")
    assert "Last-Event-ID" in text
    assert "retry" in text
    assert "204 No Content" in text


def test_an_eventsource_limits_question_mentions_get_and_headers() -> None:
    text = answer("Can I send an Authorization header with EventSource?")
    assert "GET" in text
    assert "Authorization: Bearer" in text


def test_the_http2_answer_names_the_six_connection_limit() -> None:
    text = answer("Why does my seventh tab hang on HTTP/1.1?")
    assert "six connections" in text
    assert "HTTP/2" in text


def test_a_prompt_naming_two_topics_gets_two_paragraphs() -> None:
    paragraphs = answer("What is SSE, and how does it compare to WebSockets?").split("\n\n")
    assert len(paragraphs) == 2
    assert paragraphs[0].startswith("Server-Sent Events (SSE)")
    assert "WebSockets are two-way" in paragraphs[1]


def test_a_prompt_naming_many_topics_gets_at_most_two_paragraphs() -> None:
    prompt = "Proxies, heartbeats, HTTP/2, WebSockets, reconnect, stop, polyfill, query string?"
    assert len(answer(prompt).split("\n\n")) == 2


def test_a_vague_sse_question_gets_the_basics() -> None:
    assert answer("Tell me about SSE").startswith("Server-Sent Events (SSE) let a server push")


def test_an_unrelated_prompt_is_quoted_back_with_a_suggestion() -> None:
    text = answer("What is the capital of France and why is it so big?")
    assert '"What is the capital of France and why..."' in text
    assert "Last-Event-ID" in text


def test_answers_are_a_stream_worth_of_tokens() -> None:
    for prompt in ("What is SSE?", "Hello", "Why does nginx buffer my stream?"):
        assert 40 <= len(answer_tokens(prompt)) <= 150


# Notebooks and tests compare streams with answer_tokens: its tokens change only on purpose.
# A deliberate change of a text or a keyword updates these (sha256 of the tokens as JSON).
PINNED = {
    "What is SSE?": (103, "7d5296bed22f2b84"),
    "Why does nginx buffer my stream, and what about HTTP/2?": (194, "976cd269db988213"),
    "How do I stop an answer with fetch-event-source?": (182, "39af61a7a2942f36"),
    "What is the capital of France?": (85, "77ac99e063065882"),
    "": (78, "abf35159b1779aec"),
}


@pytest.mark.parametrize("prompt", PINNED)
def test_the_answer_to_a_prompt_is_pinned_token_for_token(prompt: str) -> None:
    tokens = answer_tokens(prompt)
    digest = hashlib.sha256(json.dumps(tokens).encode()).hexdigest()[:16]
    assert (len(tokens), digest) == PINNED[prompt]


def test_the_topics_are_data_that_the_package_ships() -> None:
    data = tomllib.loads((MODEL / "topics.toml").read_text())
    assert data["topic"][0]["name"] == "basics"
    assert all(topic["keywords"] and topic["text"] for topic in data["topic"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["sse_lab"]
    for name in ("model/topics.toml", "model/topics.zh.toml"):
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


# Chinese: a prompt with a CJK character gets the Chinese twin of each topic.
ENGLISH_TOPICS = tomllib.loads((MODEL / "topics.toml").read_text())["topic"]
CHINESE_TOPICS = tomllib.loads((MODEL / "topics.zh.toml").read_text(encoding="utf-8"))["topic"]
CHINESE_TEXT = {topic["name"]: topic["text"] for topic in CHINESE_TOPICS}


def test_every_topic_has_a_chinese_twin() -> None:
    assert [t["name"] for t in CHINESE_TOPICS] == [t["name"] for t in ENGLISH_TOPICS]
    assert all(topic["keywords"] and HAN.search(topic["text"]) for topic in CHINESE_TOPICS)


@pytest.mark.parametrize(
    ("prompt", "topic"),
    [
        ("什么是SSE？", "basics"),
        ("SSE是什么", "basics"),
        ("事件流的格式是什么样的？", "format"),
        ("断线重连怎么做", "reconnection"),
        ("用三句话解释 Last-Event-ID", "reconnection"),
        ("EventSource 能发 POST 吗？", "limits"),
        ("把提示词放在查询字符串里可以吗？", "query-string"),
        ("推荐一个 polyfill？", "polyfills"),
        ("先 POST 再 SSE 的设计是怎样的？", "post-then-sse"),
        ("SSE 和 WebSocket 有什么区别？", "websockets"),
        ("为什么第七个标签页卡住了？", "http2"),
        ("nginx 后面要加心跳吗？", "proxies"),
        ("怎么停止正在生成的回答？", "stop"),
        ("ChatGPT 是怎么流式输出的？", "openai"),
    ],
)
def test_a_chinese_question_gets_its_topic_in_chinese(prompt: str, topic: str) -> None:
    paragraphs = answer(prompt).split("\n\n")
    assert CHINESE_TEXT[topic] in paragraphs
    assert set(paragraphs) <= set(CHINESE_TEXT.values())


def test_a_chinese_question_on_nothing_known_gets_the_chinese_refusal() -> None:
    text = answer("今天天气怎么样？")
    assert text.startswith("你问的是：“今天天气怎么样？”。这超出了我知道的范围。")
    assert "Last-Event-ID" in text


def test_a_latin_keyword_counts_only_as_a_whole_word_in_chinese() -> None:
    assert answer("SSE是什么") == answer("什么是SSE？")
    assert "超出了我知道的范围" in answer("ASSET是什么")


def test_chinese_streams_one_to_three_characters_a_token() -> None:
    tokens = answer_tokens("断线重连怎么做")
    han = [token for token in tokens if HAN.search(token)]
    assert {len(token) for token in han} == {1, 2, 3}
    assert all(HAN.fullmatch(character) for token in han for character in token)
    assert "".join(tokens) == CHINESE_TEXT["reconnection"]


async def test_the_lab_streams_a_chinese_answer_as_utf8(
    lab: LabServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{lab.url}/new", json={"prompt": "断线重连怎么做"}, headers=lab.auth_header()
    ) as response:
        stream_url = (await response.json())["stream_url"]
    async with http.get(f"{lab.url}{stream_url}", headers=lab.auth_header()) as response:
        body = await response.read()
    events = EventStreamParser().feed(body)
    deltas = [json.loads(e.data)["delta"] for e in events if e.event == "message"]
    assert deltas == answer_tokens("断线重连怎么做")
    assert "".join(deltas) == CHINESE_TEXT["reconnection"]
    assert all(delta.encode() in body for delta in deltas)  # as UTF-8 bytes,
    assert b"\\u" not in body  # never as \u escapes


@pytest.mark.parametrize("prompt", ["Show me an answer in Markdown", "用 Markdown 写一个示例"])
def test_a_markdown_question_gets_markdown_to_render_while_it_streams(prompt: str) -> None:
    tokens = answer_tokens(prompt)
    text = "".join(tokens)
    assert text.startswith("## ")
    assert text.count("```") == 2  # one fenced block: open for a while as it streams
    assert "\n- `data`" in text
    assert "<b>" in text  # HTML that a renderer must show as text
    fence_opened = next(n for n in range(len(tokens)) if "```" in "".join(tokens[: n + 1]))
    assert fence_opened < len(tokens) // 2  # a stream shows the open fence for many tokens

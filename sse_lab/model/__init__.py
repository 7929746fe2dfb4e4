"""The built-in model's words: a prompt in, a deterministic list of tokens out (pure: no I/O).

It knows a dozen short paragraphs about Server-Sent Events, in English and in Chinese (their
texts and keywords are data, in `topics.toml` and `topics.zh.toml`), and picks the one or
two whose keywords the prompt mentions, so every stream in the lab carries something worth
reading. A prompt with a CJK character gets the Chinese texts.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

__all__ = ["answer_tokens", "tokenize"]

# Word pieces as a language model streams them: a leading space stays with its word,
# CamelCase splits ("EventSource" -> "Event", "Source"), punctuation stands alone.
_TOKEN = re.compile(r"\n+| ?[A-Z]+(?![a-z])| ?[A-Z]?[a-z]+| ?[0-9]+| ?[^A-Za-z0-9\s]|\s")

# CJK Unified Ideographs: a prompt with one is Chinese. Chinese has no spaces to split at,
# so a run of them streams a few characters a token, in this repeating pattern of lengths.
_HAN = "\u4e00-\u9fff"
_HAN_RUN = re.compile(f"[{_HAN}]+")
_HAN_PIECES = (2, 1, 3, 2, 2, 3, 1)
# Spaces next to a CJK character, left out before matching: "发 POST" is "发POST".
_SPACE_BY_HAN = re.compile(f"(?<=[{_HAN}])\\s+|\\s+(?=[{_HAN}])")

_MAX_TOPICS = 2
_QUOTED_WORDS = 8
_QUOTED_HAN_CHARACTERS = 30


@dataclass(frozen=True, slots=True)
class _Topic:
    patterns: tuple[re.Pattern[str], ...]  # its keywords
    text: str


@dataclass(frozen=True, slots=True)
class _Knowledge:
    """One language's topics, in file order, and the keywords that name SSE itself."""

    topics: tuple[_Topic, ...]
    about_sse: tuple[re.Pattern[str], ...]
    refusal: str  # Chinese only: a template with {quote}; English builds its own


def _english_pattern(keyword: str) -> re.Pattern[str]:
    """At the start of a word (`\\b`): English matching, kept as it always was."""
    start = r"\b" if keyword[0].isalnum() else ""
    return re.compile(start + re.escape(keyword), re.IGNORECASE)


def _chinese_pattern(keyword: str) -> re.Pattern[str]:
    """A CJK keyword anywhere; a Latin one not inside a Latin word (CJK is no word here)."""
    keyword = _SPACE_BY_HAN.sub("", keyword)
    start = "(?<![A-Za-z0-9])" if keyword[0].isascii() and keyword[0].isalnum() else ""
    return re.compile(start + re.escape(keyword), re.IGNORECASE)


def _load(filename: str, compile_: Callable[[str], re.Pattern[str]]) -> _Knowledge:
    """The knowledge in one of the package's TOML files, its keywords compiled by `compile_`."""
    data = tomllib.loads(resources.files(__name__).joinpath(filename).read_text("utf-8"))
    topics = tuple(
        _Topic(tuple(compile_(k) for k in t["keywords"]), t["text"]) for t in data["topic"]
    )
    about_sse = tuple(compile_(k) for k in data["about_sse"])
    return _Knowledge(topics, about_sse, data.get("refusal", ""))


_ENGLISH = _load("topics.toml", _english_pattern)
_CHINESE = _load("topics.zh.toml", _chinese_pattern)


def tokenize(text: str) -> list[str]:
    """Split text into word pieces whose join is exactly `text`, as a model would stream it;
    a run of CJK characters goes in pieces of one to three characters."""
    tokens: list[str] = []
    done = 0
    for run in _HAN_RUN.finditer(text):
        tokens += _TOKEN.findall(text[done : run.start()])
        tokens += _han_pieces(run.group())
        done = run.end()
    return tokens + _TOKEN.findall(text[done:])


def _han_pieces(run: str) -> list[str]:
    """A run of CJK characters in pieces of one to three characters, always the same ones."""
    pieces: list[str] = []
    while run:
        size = _HAN_PIECES[len(pieces) % len(_HAN_PIECES)]
        pieces.append(run[:size])
        run = run[size:]
    return pieces


def answer_tokens(prompt: str) -> list[str]:
    """The built-in model's answer to `prompt`, as tokens: the same prompt always gives the same."""
    return tokenize(_answer_text(prompt))


def _answer_text(prompt: str) -> str:
    if _HAN_RUN.search(prompt):
        return _topics_text(_CHINESE, _SPACE_BY_HAN.sub("", prompt)) or _chinese_refusal(prompt)
    return _topics_text(_ENGLISH, prompt) or _generic_answer(prompt)


def _topics_text(knowledge: _Knowledge, prompt: str) -> str:
    """The one or two topics the prompt names most, the basics if it only names SSE, or ''."""
    hits = [sum(1 for p in topic.patterns if p.search(prompt)) for topic in knowledge.topics]
    best = sorted((i for i, n in enumerate(hits) if n), key=lambda i: -hits[i])[:_MAX_TOPICS]
    if best:
        return "\n\n".join(knowledge.topics[i].text for i in sorted(best))
    if any(p.search(prompt) for p in knowledge.about_sse):
        return knowledge.topics[0].text
    return ""


def _chinese_refusal(prompt: str) -> str:
    quote = prompt.strip()
    if len(quote) > _QUOTED_HAN_CHARACTERS:
        quote = quote[:_QUOTED_HAN_CHARACTERS] + "……"
    return _CHINESE.refusal.format(quote=quote)


def _generic_answer(prompt: str) -> str:
    words = prompt.split()
    if not words:
        opening = "Your message was empty, so there is nothing to answer yet."
    else:
        quote = " ".join(words[:_QUOTED_WORDS]) + ("..." if len(words) > _QUOTED_WORDS else "")
        opening = f'You asked: "{quote}". That is outside what I know.'
    return (
        f"{opening} I am the lab's small built-in model, and I only know about Server-Sent "
        "Events: the wire format, reconnection, EventSource and its limits, proxies, HTTP/2, "
        'WebSockets, stopping an answer. Try, for example: "How does reconnection with '
        'Last-Event-ID work?"'
    )

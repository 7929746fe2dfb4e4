"""The built-in model's words: a prompt in, a deterministic list of tokens out (pure: no I/O).

It knows a dozen short paragraphs about Server-Sent Events (their texts and keywords are
data, in `topics.toml`) and picks the one or two whose keywords the prompt mentions, so
every stream in the lab carries something worth reading.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources

__all__ = ["answer_tokens", "tokenize"]

# Word pieces as a language model streams them: a leading space stays with its word,
# CamelCase splits ("EventSource" -> "Event", "Source"), punctuation stands alone.
_TOKEN = re.compile(r"\n+| ?[A-Z]+(?![a-z])| ?[A-Z]?[a-z]+| ?[0-9]+| ?[^A-Za-z0-9\s]|\s")

_MAX_TOPICS = 2
_QUOTED_WORDS = 8


@dataclass(frozen=True, slots=True)
class _Topic:
    keywords: tuple[str, ...]  # matched case-insensitively at the start of a word
    text: str


def _load_topics() -> tuple[tuple[_Topic, ...], tuple[str, ...]]:
    """The topics of `topics.toml`, in its order, and the words that name SSE itself."""
    data = tomllib.loads(resources.files(__name__).joinpath("topics.toml").read_text("utf-8"))
    topics = tuple(_Topic(tuple(t["keywords"]), t["text"]) for t in data["topic"])
    return topics, tuple(data["about_sse"])


# A prompt that names SSE but none of the topics gets the first topic, the basics.
_TOPICS, _ABOUT_SSE = _load_topics()
_BASICS = _TOPICS[0]


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    start = r"\b" if keyword[0].isalnum() else ""
    return re.compile(start + re.escape(keyword), re.IGNORECASE)


_TOPIC_PATTERNS = [[_keyword_pattern(k) for k in topic.keywords] for topic in _TOPICS]
_ABOUT_SSE_PATTERNS = [_keyword_pattern(k) for k in _ABOUT_SSE]


def tokenize(text: str) -> list[str]:
    """Split text into word pieces whose join is exactly `text`, as a model would stream it."""
    return _TOKEN.findall(text)


def answer_tokens(prompt: str) -> list[str]:
    """The built-in model's answer to `prompt`, as tokens: the same prompt always gives the same."""
    return tokenize(_answer_text(prompt))


def _answer_text(prompt: str) -> str:
    hits = [sum(1 for p in patterns if p.search(prompt)) for patterns in _TOPIC_PATTERNS]
    best = sorted((i for i, n in enumerate(hits) if n), key=lambda i: -hits[i])[:_MAX_TOPICS]
    if best:
        return "\n\n".join(_TOPICS[i].text for i in sorted(best))
    if any(p.search(prompt) for p in _ABOUT_SSE_PATTERNS):
        return _BASICS.text
    return _generic_answer(prompt)


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

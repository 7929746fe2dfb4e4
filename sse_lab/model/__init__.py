"""The built-in model's words: a prompt in, a deterministic list of tokens out (pure: no I/O).

It knows a dozen short paragraphs about Server-Sent Events and picks the one or two whose
keywords the prompt mentions, so every stream in the lab carries something worth reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


_BASICS = _Topic(
    keywords=(
        "what is sse",
        "what's sse",
        "what is server-sent",
        "what are server-sent",
        "explain sse",
        "explain server-sent",
        "how does sse work",
        "how do server-sent events work",
        "introduc",
        "overview",
        "basics",
    ),
    text=(
        "Server-Sent Events (SSE) let a server push a stream of events to a client over one "
        "long-lived HTTP response. The client sends an ordinary GET request; the server answers "
        "with Content-Type: text/event-stream and keeps writing, one small block of UTF-8 text "
        "per event. Browsers read it with the built-in EventSource API, which also reconnects "
        "by itself. Traffic flows one way, server to client: just what a chat app needs to "
        "stream an answer token by token."
    ),
)

_TOPICS = (
    _BASICS,
    _Topic(
        keywords=(
            "format",
            "wire",
            "field",
            "data:",
            "event:",
            "id:",
            "retry:",
            "comment",
            "text/event-stream",
            "blank line",
            "syntax",
            "pars",
        ),
        text=(
            "An event stream is UTF-8 text made of lines, and each event ends with a blank line. "
            'A "data:" line carries the payload; several data lines in one event are joined with '
            'newlines. "event:" names the type (the default is message), "id:" sets the last '
            'event ID that the client sends back when it reconnects, and "retry:" sets the '
            "reconnection delay in milliseconds. A line starting with a colon is a comment, "
            "and unknown fields are ignored."
        ),
    ),
    _Topic(
        keywords=(
            "reconnect",
            "last-event-id",
            "last event id",
            "resume",
            "resuming",
            "retry",
            "drop",
            "lost connection",
            "connection lost",
            "204",
        ),
        text=(
            "When the connection drops, EventSource waits a few seconds (or the last retry value "
            "the server sent) and reconnects by itself. If the stream set an id, the browser "
            "sends it back in a Last-Event-ID header, so the server can resume right after that "
            "event: nothing lost, nothing twice. That needs events kept on the server under "
            "stable ids. To stop the reconnecting for good, the server answers with 204 No "
            "Content, or the page calls close()."
        ),
    ),
    _Topic(
        keywords=(
            "limitation",
            "header",
            "auth",
            "bearer",
            "withcredentials",
            "cookie",
            "get only",
            "only get",
            "get request",
            "request body",
            "can't post",
            "cannot post",
        ),
        text=(
            "The browser's EventSource is deliberately simple. It only makes GET requests, so "
            "there is no request body, and it cannot set headers: no Authorization: Bearer "
            "token. Its one option, withCredentials, sends cookies along on cross-origin "
            "requests. Failures arrive as a bare error event, without the status code or the "
            "response body. For a chat app that must send a long prompt and an access token, "
            "these limits shape the whole design."
        ),
    ),
    _Topic(
        keywords=(
            "query string",
            "query-string",
            "querystring",
            "query param",
            "url length",
            "long url",
            "url limit",
            "in the url",
            "414",
            "?prompt",
        ),
        text=(
            "The quick workaround puts everything in the URL: new EventSource('/ask?prompt=...'). "
            "It works until the prompt grows. Servers and proxies cap the request line at about "
            "8 KB by default (nginx and Apache both do), and a longer URL fails with 414 URI Too "
            "Long. Whatever sits in a URL also lands in access logs, proxy logs and browser "
            "history, so it is no place for a token or a private prompt."
        ),
    ),
    _Topic(
        keywords=(
            "polyfill",
            "fetch-event-source",
            "fetch event source",
            "fetcheventsource",
            "fetch",
            "librar",
            "microsoft",
        ),
        text=(
            "Polyfills lift those limits by reading the stream themselves. event-source-polyfill "
            "accepts custom headers, and Microsoft's @microsoft/fetch-event-source is built on "
            "fetch(), so it can POST a JSON body with an Authorization header, check the "
            "response status, and parse the stream from response.body. Reconnection with "
            "Last-Event-ID is still there, but it is now a library's behaviour, one that you "
            "configure and test yourself."
        ),
    ),
    _Topic(
        keywords=(
            "post",
            "two step",
            "two-step",
            "two requests",
            "/new",
            "stream_url",
            "stream url",
            "design",
            "architecture",
        ),
        text=(
            "Another design keeps the native EventSource and splits the request in two. First "
            "the client POSTs the prompt as JSON, with its Authorization header; the server "
            "stores it and answers with an id and a stream URL such as /sse/a1. Then the client "
            "opens an EventSource on that URL, authenticated by a cookie or a short-lived token. "
            "As the answer lives on the server, not in the connection, a reader that drops can "
            "reconnect with Last-Event-ID and carry on."
        ),
    ),
    _Topic(
        keywords=(
            "websocket",
            "web socket",
            "ws://",
            "bidirectional",
            "bi-directional",
            "two-way",
            "full-duplex",
            "full duplex",
            "socket.io",
        ),
        text=(
            "SSE and WebSockets both keep a connection open, for different jobs. SSE is one-way, "
            "server to client, over plain HTTP: it passes through ordinary proxies, uses the "
            "usual authentication, reconnects by itself and resumes with Last-Event-ID. "
            "WebSockets are two-way and carry binary data too, but they leave HTTP after the "
            "upgrade, so reconnecting and resuming are yours to build. Streaming an answer is "
            "one-way, which is why chat apps favour SSE."
        ),
    ),
    _Topic(
        keywords=(
            "http/2",
            "http2",
            "http/3",
            "http/1",
            "http 1",
            "connection limit",
            "six connections",
            "6 connections",
            "tabs",
            "multiplex",
            "concurrent",
        ),
        text=(
            "Over HTTP/1.1 each open stream holds a whole TCP connection, and browsers allow only "
            "six connections per server. Open the page in six tabs, and the seventh tab's "
            "requests wait. HTTP/2 and HTTP/3 multiplex many streams over one connection, "
            "usually up to 100 at a time, so the limit all but disappears. In production, serve "
            "SSE over HTTP/2, typically through a TLS-terminating proxy in front of the app."
        ),
    ),
    _Topic(
        keywords=(
            "prox",
            "nginx",
            "buffer",
            "heartbeat",
            "keep-alive",
            "keepalive",
            "keep alive",
            "idle",
            "timeout",
            "time out",
            "load balancer",
            "x-accel",
            "ping",
            "gzip",
            "compression",
        ),
        text=(
            "Proxies can spoil a stream in two ways. Some buffer the response, so events arrive "
            "in bursts or all at the end: for nginx, send X-Accel-Buffering: no, and keep "
            "compression off for the stream. Others close a connection that has been idle for a "
            "while, often 60 seconds. A heartbeat prevents that: every 15 seconds or so, the "
            "server writes a comment line, a lone colon, which clients ignore. Cache-Control: "
            "no-cache keeps caches out of the way."
        ),
    ),
    _Topic(
        keywords=("stop", "cancel", "abort", "interrupt", "halt"),
        text=(
            "A Stop button has to stop the work, not only the display. Closing the EventSource "
            "ends one connection, but an answer generated on the server goes on unless the "
            "client says so, for example with DELETE /sse/<id>. The server then cancels the "
            "generation task, which closes its request to the model, so no more tokens are "
            "made or paid for, and ends the stream with a final event saying the answer was "
            "stopped."
        ),
    ),
    _Topic(
        keywords=(
            "openai",
            "chatgpt",
            "chat completion",
            "chat.completion",
            "[done]",
            "stream=true",
            "delta",
            "chunk",
            "llm",
            "gpt",
        ),
        text=(
            "OpenAI-style APIs stream answers as SSE too. With stream set to true, POST "
            "/v1/chat/completions answers with text/event-stream, and each event's data is a "
            "chat.completion.chunk whose choices[0].delta holds the next piece of text. The "
            "last chunk carries a finish_reason such as stop or length, and the line "
            "data: [DONE] ends the stream. Being a POST, it is read with fetch() or an SDK, "
            "never with EventSource."
        ),
    ),
)

# A prompt that names SSE but none of the topics above gets the basics.
_ABOUT_SSE = ("sse", "server-sent", "server sent", "eventsource", "event stream", "event-stream")


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

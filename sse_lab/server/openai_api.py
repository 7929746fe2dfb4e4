"""The built-in model, OpenAI-compatible: `GET /v1/models` and `POST /v1/chat/completions`.

The real `openai` SDK works against it, streamed (`stream=True`, SSE chunks ending with
`data: [DONE]`) or not. There is no authentication on /v1: any API key is accepted, as
the answers are the lab's own public texts. Errors use OpenAI's JSON shape, so the SDK
raises its usual exceptions (`BadRequestError`, `NotFoundError`, ...) with our message.
Asked for FAILING_MODEL (config.py) instead, it fails halfway through each answer: a stream
sends the first half of its chunks, then an `error` object, and ends without [DONE], as a
provider's stream does when the provider fails mid-answer; a whole answer is a 500.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from sse_lab.config import FAILING_MODEL
from sse_lab.model import answer_tokens, tokenize
from sse_lab.server.bodies import ERROR_HEADERS, BadJSON, json_response, read_json
from sse_lab.server.state import MODEL_STREAMS, SETTINGS
from sse_lab.server.streams import SSE_HEADERS
from sse_lab.sse import ServerSentEvent

routes = web.RouteTableDef()

_T = TypeVar("_T")
_SLOT = "\x00token\x00"  # stands for a token's text in the chunk template (JSON: \u0000...)
# How FAILING_MODEL fails: OpenAI's error object, the `data` of a stream's last event.
_FAILURE = {
    "message": f"{FAILING_MODEL} fails halfway through every answer, on purpose",
    "type": "server_error",
    "param": None,
    "code": None,
}


class _InvalidRequest(Exception):
    """A request the API refuses; becomes an OpenAI-style error response."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    def response(self) -> web.Response:
        error = {
            "message": self.message,
            "type": "invalid_request_error",
            "param": self.param,
            "code": self.code,
        }
        return json_response({"error": error}, status=self.status, headers=ERROR_HEADERS)


@dataclass(frozen=True, slots=True)
class _ChatRequest:
    model: str
    prompt: str  # the last user message's text
    prompt_tokens: int  # over all messages
    stream: bool
    include_usage: bool
    max_tokens: int | None


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    """The one model this server offers, as OpenAI's model list."""
    model = {
        "id": request.app[SETTINGS].upstream.model,
        "object": "model",
        "created": 0,
        "owned_by": "sse-lab",
    }
    return json_response({"object": "list", "data": [model]})


@routes.post("/v1/chat/completions")
async def chat_completions(request: web.Request) -> web.StreamResponse:
    """Answer the last user message: a `chat.completion`, or a stream of chunks over SSE."""
    try:
        chat = await _read_chat_request(request)
    except _InvalidRequest as invalid:
        return invalid.response()
    tokens = answer_tokens(chat.prompt)
    finish_reason = "stop"
    if chat.max_tokens is not None and len(tokens) > chat.max_tokens:
        tokens, finish_reason = tokens[: chat.max_tokens], "length"
    failure = _FAILURE if chat.model == FAILING_MODEL else None
    if failure is not None:
        tokens = tokens[: len(tokens) // 2]  # what it gets through before it fails
    if chat.stream:
        return await _stream(request, chat, tokens, finish_reason, failure)
    # A whole answer arrives after the time its stream would take, as with a real model.
    await asyncio.sleep(request.app[SETTINGS].token_delay * len(tokens))
    if failure is not None:
        return json_response({"error": failure}, status=500, headers=ERROR_HEADERS)
    message = {"role": "assistant", "content": "".join(tokens), "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    return json_response(
        {**_head(chat, "chat.completion"), "choices": [choice], "usage": _usage(chat, tokens)}
    )


async def _stream(
    request: web.Request,
    chat: _ChatRequest,
    tokens: list[str],
    finish_reason: str,
    failure: dict[str, Any] | None,
) -> web.StreamResponse:
    """Write the answer as `chat.completion.chunk` events, one token each, then `[DONE]`;
    with a `failure`, the tokens, then that error object, and the stream ends there."""
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    head = _head(chat, "chat.completion.chunk")
    if chat.include_usage:
        head["usage"] = None  # as OpenAI: null on every chunk but the last

    async def send(data: str) -> None:
        await response.write(ServerSentEvent(data=data).encode())

    def chunk(delta: dict[str, str], reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return ServerSentEvent(data=_json({**head, "choices": [choice]})).encode()

    # Every token's chunk is the same JSON but for its text: encoded once, filled per token.
    before, after = chunk({"content": _SLOT}).split(_json(_SLOT).encode())

    delay = request.app[SETTINGS].token_delay
    streams = request.app[MODEL_STREAMS]
    streams.add(response)
    loop = asyncio.get_running_loop()
    try:
        await response.write(chunk({"role": "assistant", "content": ""}))
        start = loop.time()
        for n, token in enumerate(tokens, 1):
            # Token n is due n delays after the start: a steady pace, which a busy loop
            # delays but does not slow down. With 0, this still lets the loop serve others.
            await asyncio.sleep(max(0.0, start + n * delay - loop.time()))
            await response.write(before + _json(token).encode() + after)
        if failure is not None:
            await send(_json({"error": failure}))  # no finish_reason, no usage, no [DONE]
            return response
        await response.write(chunk({}, finish_reason))
        if chat.include_usage:
            await send(_json({**head, "choices": [], "usage": _usage(chat, tokens)}))
        await send("[DONE]")
    except ConnectionResetError:
        pass  # the client went away: stop generating, nobody is left to read
    finally:
        streams.discard(response)
    return response


def _head(chat: _ChatRequest, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": kind,
        "created": int(time.time()),
        "model": chat.model,
        "system_fingerprint": None,
    }


def _usage(chat: _ChatRequest, tokens: list[str]) -> dict[str, int]:
    return {
        "prompt_tokens": chat.prompt_tokens,
        "completion_tokens": len(tokens),
        "total_tokens": chat.prompt_tokens + len(tokens),
    }


async def _read_chat_request(request: web.Request) -> _ChatRequest:
    if request.content_type != "application/json":
        raise _InvalidRequest(415, "Content-Type must be application/json.", "unsupported_media")
    try:
        body = await read_json(request)
    except BadJSON as bad:
        code = "unsupported_media" if bad.status == 415 else "invalid_json"
        message = bad.message[:1].upper() + bad.message[1:] + "."
        raise _InvalidRequest(bad.status, message, code) from None
    except web.HTTPRequestEntityTooLarge:
        raise _InvalidRequest(413, "The request body is too large.", "body_too_large") from None
    if not isinstance(body, dict):
        raise _InvalidRequest(400, "The body must be a JSON object.", "invalid_json")

    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _InvalidRequest(400, "You must provide a model parameter.", "missing", "model")
    known = request.app[SETTINGS].upstream.model
    if model != known:
        message = f"The model '{model}' does not exist. This server offers '{known}'."
        raise _InvalidRequest(404, message, "model_not_found", "model")

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        message = "'messages' must be a non-empty list of messages."
        raise _InvalidRequest(400, message, "invalid_messages", "messages")
    texts = [(_role(m, i), _text(m, i)) for i, m in enumerate(messages)]
    prompts = [text for role, text in texts if role == "user"]
    if not prompts:
        message = "'messages' must contain a message with role 'user'."
        raise _InvalidRequest(400, message, "invalid_messages", "messages")

    stream = _optional(body, "stream", bool) or False
    options = _optional(body, "stream_options", dict) or {}
    include_usage = options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        message = "'stream_options.include_usage' must be a boolean."
        raise _InvalidRequest(400, message, "invalid_type", "stream_options")
    limit = _optional(body, "max_completion_tokens", int)
    if limit is None:
        limit = _optional(body, "max_tokens", int)
    if limit is not None and limit < 1:
        raise _InvalidRequest(400, "The token limit must be at least 1.", "invalid_value")
    return _ChatRequest(
        model=model,
        prompt=prompts[-1],
        prompt_tokens=sum(len(tokenize(text)) for _, text in texts),
        stream=stream,
        include_usage=include_usage,
        max_tokens=limit,
    )


def _optional(body: dict[str, Any], name: str, kind: type[_T]) -> _T | None:
    """`body[name]` if present and not null, checked to be of `kind` (a bool is no int here)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        message = f"'{name}' must be of type {kind.__name__}, not {type(value).__name__}."
        raise _InvalidRequest(400, message, "invalid_type", name)
    return value


def _role(message: object, index: int) -> str:
    role = message.get("role") if isinstance(message, dict) else None
    if not isinstance(role, str):
        reason = f"messages[{index}] must be an object with a string 'role'."
        raise _InvalidRequest(400, reason, "invalid_messages", f"messages[{index}]")
    return role


def _text(message: dict[str, Any], index: int) -> str:
    """A message's text: a string, a list of `{"type": "text"}` parts, or none (null)."""
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(_is_text_part(part) for part in content):
        return "\n".join(part["text"] for part in content)
    reason = f"messages[{index}].content must be a string or a list of text parts."
    raise _InvalidRequest(400, reason, "invalid_content", f"messages[{index}].content")


def _is_text_part(part: object) -> bool:
    return (
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
    )


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

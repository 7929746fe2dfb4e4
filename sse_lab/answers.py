"""Answers in motion: one task per answer, fed by an OpenAI-compatible stream, read by many.

Generation is not tied to any reader's connection: each delta goes into the store as it
arrives, and readers tail the store. So a reader can drop and resume, two tabs can read
one answer, and "stop generating" is a call of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import openai
from openai.types.chat import ChatCompletionChunk

from sse_lab.burst_log import BurstLog
from sse_lab.config import Upstream
from sse_lab.sse import EventStreamParser
from sse_lab.stores.base import (
    Answer,
    AnswerStore,
    Batch,
    Outcome,
    StoreUnavailable,
    Usage,
    follow,
)

log = logging.getLogger("sse_lab.answers")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on every answer, whatever the model does."""

    max_tokens: int = 512
    max_seconds: float = 120.0


class AnswerService:
    """Starts, stops and follows answers; owns one generation task per running answer."""

    def __init__(self, store: AnswerStore, upstream: Upstream, limits: Limits) -> None:
        if upstream.base_url is None:
            raise ValueError("the upstream needs a base_url")
        self.store = store
        self._upstream = upstream
        self._limits = limits
        # No SDK retries: a retry would restart the answer and send its first words twice.
        # The aiohttp transport reads a stream with less CPU than the default (httpx).
        self._client = openai.AsyncOpenAI(
            base_url=upstream.base_url,
            api_key=upstream.api_key,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # An outage of the store: one log line per burst, not one per answer.
        self._unstored = BurstLog(log, verb="could not store")
        store.on_ended(self._ended_elsewhere)

    async def start(self, owner: str, prompt: str) -> Answer:
        """Store the prompt and start generating its answer in the background."""
        answer = await self.store.create(owner, prompt)
        task = asyncio.create_task(self._generate(answer.id, prompt), name=f"answer {answer.id}")
        self._tasks[answer.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(answer.id, None))
        return answer

    async def _generate(self, answer_id: str, prompt: str) -> None:
        """Stream the model's answer into the store, asked for as the openai SDK's README
        shows (`create(stream=True)`); end the answer however its stream ends."""
        seq = 0
        reason = "stop"
        usage: Usage | None = None
        failed: Outcome | None = None
        try:
            async with asyncio.timeout(self._limits.max_seconds):
                stream = await self._client.chat.completions.create(
                    model=self._upstream.model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=self._limits.max_tokens,
                    stream=True,
                    # A last chunk with the answer's token counts, after its finish_reason.
                    stream_options={"include_usage": True},
                    # The SDK asks for JSON; a proxy in between may then buffer the stream
                    # (jupyter-server-proxy streams only for exactly this Accept).
                    extra_headers={"Accept": "text/event-stream"},
                )
                async with stream:  # closes the request to the model on a stop or time limit
                    # Not `async for chunk in stream`: the same fields for a third of the
                    # CPU per delta (see chunk_texts).
                    async for texts, finish_reason, counted in chunk_texts(stream):
                        if texts:  # what came in one read is stored in one write
                            await self.store.append(answer_id, seq + 1, texts)
                            seq += len(texts)
                        reason, usage = finish_reason or reason, counted or usage
        except TimeoutError:
            reason = "time_limit"
        except openai.APIError as exc:  # an `error` object inside the stream is one too
            failed = Outcome("error", None, f"the model failed: {failure(exc)}")
        except Exception as exc:  # an answer must end, whatever broke
            failed = Outcome("error", None, f"the answer failed: {type(exc).__name__}")
        await self._end(answer_id, failed or Outcome("done", reason, usage=usage))

    async def stop(self, answer_id: str) -> bool:
        """Stop generating: close the upstream stream and end the answer as `stopped`."""
        task = self._tasks.get(answer_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return await self.store.finish(answer_id, Outcome("done", "stopped"))

    def _ended_elsewhere(self, answer_id: str) -> None:
        """An answer generated here has ended: if by someone else (a stop sent to another
        worker), stop generating it."""
        task = self._tasks.get(answer_id)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    @property
    def running(self) -> int:
        """How many answers are being generated right now."""
        return len(self._tasks)

    def follow(self, answer_id: str, after: int = 0) -> AsyncIterator[Batch]:
        """The answer's pieces after `after`, in batches for `async for`: what is stored,
        then each batch as the store publishes it, the End last (see `stores.base.follow`)."""
        return follow(self.store, answer_id, after)

    async def end_running(self) -> None:
        """End every answer this process generates as an error ("the server stopped"), and
        pass that end to its readers here. Readers of answers that another process generates
        (a shared store) are left to the server's shutdown: their streams close without an
        end, and they resume on another worker."""
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for answer_id in tasks:
            await self._end(answer_id, Outcome("error", None, "the server stopped"))

    async def close(self) -> None:
        """`end_running`, then close the upstream client. Safe to call more than once."""
        await self.end_running()
        await self._client.close()

    async def _end(self, answer_id: str, outcome: Outcome) -> None:
        """`store.finish`, its failure logged: the store has told the readers it could."""
        try:
            await self.store.finish(answer_id, outcome)
        except StoreUnavailable as exc:  # the store is away: no traceback, and one line a burst
            self._unstored.note("answer ends", f"{answer_id}: {exc}")
        except Exception:
            log.exception("could not store the end of answer %s", answer_id)


def failure(exc: Exception) -> str:
    """What went wrong upstream; for a connection that failed, with what lies under the
    SDK's words (on aiohttp, it calls a refused connection a timeout)."""
    if isinstance(exc, openai.APIConnectionError) and exc.__cause__ is not None:
        return f"{exc} {exc.__cause__}"
    return str(exc)


async def chunk_texts(
    stream: openai.AsyncStream[ChatCompletionChunk],
) -> AsyncIterator[tuple[list[str], str | None, Usage | None]]:
    """What `async for chunk in stream` gives (`choices[0].delta.content`, `.finish_reason`,
    `chunk.usage`) per read of the model's body: its texts, last finish_reason and usage.

    Read with the project's parser: the SDK's typed chunks took two thirds of the server's
    CPU per delta (benchmarks/README.md). An `error` object in the stream raises the
    `openai.APIError` that the SDK raises for it, once the texts before it are given.
    """
    parser = EventStreamParser()
    async for raw in stream.response.aiter_bytes():
        texts: list[str] = []
        reason, usage = None, None
        for event in parser.feed(raw):
            if event.data.startswith("[DONE]"):
                yield texts, reason, usage
                return
            chunk = json.loads(event.data)
            if error := chunk.get("error"):
                yield texts, reason, usage  # what came before the error is part of the answer
                message = error.get("message") if isinstance(error, dict) else None
                message = message or "An error occurred during streaming"  # the SDK's words
                raise openai.APIError(message, stream.response.request, body=error)
            for choice in (chunk.get("choices") or [])[:1]:  # none in the usage chunk
                if text := (choice.get("delta") or {}).get("content"):
                    texts.append(text)
                reason = choice.get("finish_reason") or reason
            usage = Usage.of(chunk.get("usage")) or usage  # null but in the last chunk
        yield texts, reason, usage

"""Answers in motion: one task per answer, fed by an OpenAI-compatible stream, read by many.

Generation is not tied to any reader's connection: each delta goes into the store as it
arrives, and readers tail the store. So a reader can drop and resume, two tabs can read
one answer, and "stop generating" is a call of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai

from sse_lab.config import Upstream
from sse_lab.sse import EventStreamParser
from sse_lab.store import Answer, AnswerStore, Progress, Status


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the answer, numbered from 1."""

    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class End:
    """How an answer ended: `done` with a finish reason, or `error` with a message.

    Its `seq` follows the last delta's, so a reader that saw the end can say so on resume.
    """

    seq: int
    status: Status
    finish_reason: str | None
    error: str | None


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
        self._client = openai.AsyncOpenAI(
            base_url=upstream.base_url, api_key=upstream.api_key, max_retries=0
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, owner: str, prompt: str) -> Answer:
        """Store the prompt and start generating its answer in the background."""
        answer = await self.store.create(owner, prompt)
        task = asyncio.create_task(self._generate(answer.id, prompt), name=f"answer {answer.id}")
        self._tasks[answer.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(answer.id, None))
        return answer

    async def stop(self, answer_id: str) -> bool:
        """Stop generating: close the upstream stream and end the answer as `stopped`."""
        task = self._tasks.get(answer_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return await self.store.finish(answer_id, "done", "stopped")

    @property
    def running(self) -> int:
        """How many answers are being generated right now."""
        return len(self._tasks)

    async def follow(
        self,
        answer_id: str,
        after: int = 0,
        idle: float = 15.0,
        progress: Progress | None = None,
    ) -> AsyncIterator[list[Delta | End] | None]:
        """Yield what is new since `after` in batches (deltas, the End last); None after
        `idle` s without news. A batch is everything stored so far: one write for a reader.
        `progress`: the store's answer for `after`, if the caller has read it already."""
        while True:
            if progress is None:
                progress = await self.store.read(answer_id, after)
            batch: list[Delta | End] = [Delta(seq, text) for seq, text in progress.deltas]
            if progress.status != "running":
                end = End(
                    progress.last_seq + 1, progress.status, progress.finish_reason, progress.error
                )
                yield [*batch, end]
                return
            if batch:
                after = batch[-1].seq
                yield batch
            elif not await self.store.wait(answer_id, after, idle):
                yield None
            progress = None

    async def close(self) -> None:
        """Cancel every running answer (they end as errors) and close the upstream client.

        Safe to call more than once."""
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for answer_id in tasks:
            await self.store.finish(answer_id, "error", None, "the server stopped")
        await self._client.close()

    async def _generate(self, answer_id: str, prompt: str) -> None:
        seq = 0
        status: Status = "done"
        reason: str | None = "stop"
        error: str | None = None
        try:
            async with (
                asyncio.timeout(self._limits.max_seconds),
                self._client.chat.completions.with_streaming_response.create(
                    model=self._upstream.model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=self._limits.max_tokens,
                    stream=True,
                ) as response,
            ):
                async for chunk in chat_chunks(response.iter_bytes()):
                    if not chunk.get("choices"):
                        continue  # e.g. the closing usage chunk
                    choice = chunk["choices"][0]
                    if text := (choice.get("delta") or {}).get("content"):
                        seq += 1
                        await self.store.append(answer_id, seq, text)
                    reason = choice.get("finish_reason") or reason
        except TimeoutError:
            reason = "time_limit"
        except (openai.APIError, UpstreamError) as exc:
            status, reason, error = "error", None, f"the model failed: {exc}"
        except Exception as exc:  # an answer must end, whatever broke
            status, reason, error = "error", None, f"the answer failed: {type(exc).__name__}"
        await self.store.finish(answer_id, status, reason, error)


class UpstreamError(Exception):
    """The model's stream itself reported an error (an `error` object instead of a chunk)."""


async def chat_chunks(body: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of a `chat.completion.chunk` stream, until `data: [DONE]`.

    The openai SDK makes the request (auth, errors, base URL); the body is read with the
    project's own parser, which costs a fraction of building the SDK's typed chunks.
    """
    parser = EventStreamParser()
    async for raw in body:
        for event in parser.feed(raw):
            if event.data == "[DONE]":
                return
            chunk = json.loads(event.data)
            if "error" in chunk:
                raise UpstreamError((chunk["error"] or {}).get("message", "unknown error"))
            yield chunk

"""ipywidgets views fed by the SSE clients: a chat view and a live event log.

Both update from asyncio tasks on the kernel's loop, so a cell can start a stream and
return while the widget keeps growing; awaiting the same call instead makes the cell wait
for the end (what a notebook under test does). Their state is plain attributes, so tests
and notebooks can print it without a browser.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Literal

import aiohttp
import ipywidgets as widgets

from sse_lab.clients import EventSourcePolyfill, SSEResponseError
from sse_lab.sse import ServerSentEvent

Status = Literal["idle", "connecting", "streaming", "done", "stopped", "error"]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One row of an EventLog: the event and when it arrived, in seconds since the log began."""

    at: float
    event: ServerSentEvent


class EventLog(widgets.VBox):
    """Raw events as they arrive: a table that grows, newest last."""

    def __init__(self, title: str = "Events", max_rows: int = 200) -> None:
        self.rows: list[LoggedEvent] = []
        self._max_rows = max_rows
        self._started = time.monotonic()
        self._title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self._table = widgets.HTML(_table([]))
        super().__init__([self._title, self._table])

    def add(self, event: ServerSentEvent) -> None:
        """Log one event now."""
        self.rows.append(LoggedEvent(time.monotonic() - self._started, event))
        self._table.value = _table(self.rows[-self._max_rows :])

    async def follow(self, events: AsyncIterable[ServerSentEvent]) -> list[ServerSentEvent]:
        """Log every event of a stream until it ends; return them."""
        seen = []
        async for event in events:
            self.add(event)
            seen.append(event)
        return seen

    def summary(self) -> str:
        """The log as text (type, id, data per line), for printing under test."""
        return "\n".join(
            f"{row.event.event:<8} id={row.event.id or '-':<4} {row.event.data}"
            for row in self.rows
        )


def _table(rows: list[LoggedEvent]) -> str:
    cells = "".join(
        f"<tr><td>{row.at:6.2f}s</td><td>{html.escape(row.event.event)}</td>"
        f"<td>{html.escape(row.event.id or '')}</td>"
        f"<td><code>{html.escape(row.event.data)}</code></td></tr>"
        for row in rows
    )
    head = "<tr><th>t</th><th>event</th><th>id</th><th>data</th></tr>"
    return f"<table class='sse-lab-log'>{head}{cells}</table>"


class ChatView(widgets.VBox):
    """A ChatGPT-style view of the POST-id-then-SSE design against a lab-compatible server.

    Send: `POST {url}/new` with the prompt, then stream `GET {url}/sse/{id}` with an
    EventSourcePolyfill (it sends the Authorization header and reconnects on a drop).
    Stop: `DELETE {url}/sse/{id}`. `await view.ask(prompt)` does the same from code.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.status: Status = "idle"
        self.answer = ""
        self.answer_id: str | None = None
        self.deltas = 0
        self.first_token_s: float | None = None  # time from Send to the first delta
        self.tokens_per_s: float | None = None
        self.finish_reason: str | None = None
        self.error: str | None = None
        self._headers = {"Authorization": f"Bearer {token}"}
        self._task: asyncio.Task[str] | None = None
        self.prompt = widgets.Textarea(placeholder="Ask about Server-Sent Events…", rows=2)
        self.send = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.output = widgets.HTML(layout=widgets.Layout(min_height="4em"))
        self.status_line = widgets.HTML(self._status_html())
        self.send.on_click(lambda _: self._start(self.prompt.value))
        self.stop.on_click(lambda _: asyncio.ensure_future(self.stop_generating()))
        controls = widgets.HBox([self.prompt, widgets.VBox([self.send, self.stop])])
        super().__init__([controls, self.output, self.status_line])

    async def ask(self, prompt: str) -> str:
        """Send `prompt` and stream its answer into the view; return the answer text."""
        self._begin(prompt)
        started = time.monotonic()
        try:
            async with aiohttp.ClientSession(headers=self._headers) as http:
                async with http.post(f"{self.url}/new", json={"prompt": prompt}) as response:
                    body = await response.json()
                    if response.status != 201:
                        raise SSEResponseError(
                            body.get("error", ""), status=response.status, body=json.dumps(body)
                        )
                self.answer_id = body["id"]
                source = EventSourcePolyfill(
                    f"{self.url}{body['stream_url']}", headers=self._headers
                )
                async with source:
                    async for event in source:
                        if self._on_event(event, started):
                            break
        except (aiohttp.ClientError, SSEResponseError, KeyError, ValueError) as exc:
            self._set(status="error", error=str(exc) or type(exc).__name__)
        finally:
            self.send.disabled, self.stop.disabled = False, True
            if self.status in ("connecting", "streaming"):
                self._set(status="error", error="the stream ended without `done`")
        return self.answer

    async def stop_generating(self) -> None:
        """Ask the server to stop this answer; the stream then ends with `stopped`."""
        if self.answer_id is None:
            return
        async with (
            aiohttp.ClientSession(headers=self._headers) as http,
            http.delete(f"{self.url}/sse/{self.answer_id}") as response,
        ):
            await response.read()

    def _start(self, prompt: str) -> None:
        if prompt.strip() and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self.ask(prompt))

    def _begin(self, prompt: str) -> None:
        self.answer, self.deltas, self.answer_id = "", 0, None
        self.first_token_s = self.tokens_per_s = None
        self.finish_reason = self.error = None
        self.prompt.value = prompt
        self.send.disabled, self.stop.disabled = True, False
        self._set(status="connecting")

    def _on_event(self, event: ServerSentEvent, started: float) -> bool:
        """Show one event; True when the stream is over."""
        data = json.loads(event.data)
        if event.event == "message":
            elapsed = time.monotonic() - started
            if self.first_token_s is None:
                self.first_token_s = elapsed
            self.deltas += 1
            self.answer += data["delta"]
            if elapsed > self.first_token_s:
                self.tokens_per_s = (self.deltas - 1) / (elapsed - self.first_token_s)
            self._set(status="streaming")
            return False
        if event.event == "done":
            reason = data.get("finish_reason")
            self._set(status="stopped" if reason == "stopped" else "done", finish_reason=reason)
            return True
        if event.event == "error":
            self._set(status="error", error=data.get("message"))
            return True
        return False

    def _set(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        self.output.value = (
            "<div class='sse-lab-answer' style='white-space: pre-wrap'>"
            f"{html.escape(self.answer)}</div>"
        )
        self.status_line.value = self._status_html()

    def _status_html(self) -> str:
        parts = [f"<b>{self.status}</b>"]
        if self.first_token_s is not None:
            parts.append(f"first token after {self.first_token_s * 1000:.0f} ms")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:.0f} tokens/s")
        if self.error:
            parts.append(html.escape(self.error))
        return "<span class='sse-lab-status'>" + " · ".join(parts) + "</span>"

    def summary(self) -> str:
        """The view's state as text, for printing under test (no timings: they vary)."""
        return f"status: {self.status}, {self.deltas} deltas, finish_reason: {self.finish_reason}"

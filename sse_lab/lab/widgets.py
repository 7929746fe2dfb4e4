"""ipywidgets views fed by the SSE clients: a chat view and a live event log.

Both update from asyncio tasks on the kernel's loop, so a cell can start a stream and
return while the widget keeps growing; awaiting the same call instead makes the cell wait
for the end (what a notebook under test does). Their state is plain attributes, so tests
and notebooks can print it without a browser.

Where no widget can be drawn (a notebook exported to HTML offline, a viewer without the
widget renderer), their outputs show a text copy of what the widget showed instead: each
display carries `text/plain` and `text/html` versions of `text_copy()`, updated in place
as the widget changes, so a saved notebook holds the last one.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import ipywidgets as widgets
import mistune
from IPython.display import display, update_display

from sse_lab.clients import EventSource, EventSourcePolyfill, SSEResponseError
from sse_lab.lab.i18n import _
from sse_lab.sse import ServerSentEvent
from sse_lab.stores.base import Usage

Status = Literal["idle", "connecting", "streaming", "done", "stopped", "error", "cut off"]


class _AnswerRenderer(mistune.HTMLRenderer):
    """HTML for a model's Markdown, which nobody checked: its raw HTML comes out as text
    (`escape`), and an image as a link, so an answer cannot make the page load a URL."""

    def image(self, text: str, url: str, title: str | None = None) -> str:
        return self.link(text or url, url, title)


# Renders a half-streamed answer as CommonMark does: an unclosed ``` fence is a code block
# to the end of the text, so code shows as code while it streams.
_markdown = mistune.create_markdown(escape=True, renderer=_AnswerRenderer(escape=True))


def answer_html(text: str) -> str:
    """The answer's Markdown as HTML, safe to show: no tag of the model's own gets through."""
    return str(_markdown(text))


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One row of an EventLog: the event and when it arrived, in seconds since the log began."""

    at: float
    event: ServerSentEvent


def server_stopped(error: aiohttp.ClientConnectorError) -> str:
    """In words, for a connection refused: the lab server is stopped, and how to start it."""
    return (
        f"the lab server at http://{error.host}:{error.port} is not running: it was stopped "
        "(lab.stop(), or a kernel restart). Start it again with `lab = start_server()` and "
        "rerun the cells from there: a new server has a new address and new tokens"
    )


class _TextCopied(widgets.VBox):
    """A widget whose every display also carries a text copy of what it shows, kept up to
    date, for wherever the widget itself cannot be drawn."""

    _display_id: str | None = None

    def text_copy(self) -> str:
        """What the widget shows, as text; the first line names the widget in brackets."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        copy = self.text_copy()
        bundle["text/plain"] = copy
        bundle["text/html"] = f'<pre class="sse-lab-text-copy">{html.escape(copy)}</pre>'
        return bundle

    def _ipython_display_(self) -> None:
        """Display with an id, so that later changes can update the text copy in place."""
        self._display_id = self._display_id or uuid.uuid4().hex
        display(  # type: ignore[no-untyped-call]
            self._repr_mimebundle_(), raw=True, display_id=self._display_id
        )

    def _update_text_copy(self) -> None:
        if self._display_id is not None:
            update_display(  # type: ignore[no-untyped-call]
                self._repr_mimebundle_(), raw=True, display_id=self._display_id
            )


class EventLog(_TextCopied):
    """Raw events as they arrive: a table that grows, newest last."""

    def __init__(self, title: str = "Events", max_rows: int = 200) -> None:
        self.rows: list[LoggedEvent] = []
        self.title = title
        self.error: str | None = None
        self._max_rows = max_rows
        self._started = time.monotonic()
        self._title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self._table = widgets.HTML(_table([]))
        self._error = widgets.HTML()
        super().__init__([self._title, self._table, self._error])

    def add(self, event: ServerSentEvent) -> None:
        """Log one event now."""
        self.rows.append(LoggedEvent(time.monotonic() - self._started, event))
        self._table.value = _table(self.rows[-self._max_rows :])
        self._update_text_copy()

    async def follow(self, events: AsyncIterable[ServerSentEvent]) -> list[ServerSentEvent]:
        """Log every event of a stream until it ends; return them. A stopped server is
        said so in the log, in words."""
        seen = []
        try:
            async for event in events:
                self.add(event)
                seen.append(event)
        except aiohttp.ClientConnectorError as error:
            self.error = server_stopped(error)
            self._error.value = f"<span class='sse-lab-status'>{html.escape(self.error)}</span>"
            self._update_text_copy()
        return seen

    def summary(self) -> str:
        """The log as text (type, id, data per line), for printing under test."""
        lines = [
            f"{row.event.event:<8} id={row.event.id or '-':<4} {row.event.data}"
            for row in self.rows
        ]
        return "\n".join([*lines, *([f"error: {self.error}"] if self.error else [])])

    def text_copy(self) -> str:
        """The log as text, its title first (no times: they vary from run to run)."""
        return f"[EventLog] {self.title}: {len(self.rows)} events\n{self.summary()}".rstrip()


def _table(rows: list[LoggedEvent]) -> str:
    cells = "".join(
        f"<tr><td>{row.at:6.2f}s</td><td>{html.escape(row.event.event)}</td>"
        f"<td>{html.escape(row.event.id or '')}</td>"
        f"<td><code>{html.escape(row.event.data)}</code></td></tr>"
        for row in rows
    )
    head = "<tr><th>t</th><th>event</th><th>id</th><th>data</th></tr>"
    return f"<table class='sse-lab-log'>{head}{cells}</table>"


class ChatView(_TextCopied):
    """A ChatGPT-style view of the POST-id-then-SSE design against a lab-compatible server.

    Send: `POST {url}/new` with the prompt, then stream `GET {url}/sse/{id}` with an
    EventSourcePolyfill (it sends the Authorization header and reconnects on a drop).
    Stop: `DELETE {url}/sse/{id}`. `await view.ask(prompt)` does the same from code.
    The answer shows as Markdown. Its status ends `done` (or `stopped`), `error` (the
    server's `error` event, or a failed request) or `cut off` (the stream broke off before
    `done` and could not resume); `error` says what went wrong, in words. `usage`: the token
    counts the `done` event carried (None if the model reported none).
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
        self.usage: Usage | None = None
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
            async with (
                aiohttp.ClientSession(headers=self._headers) as http,
                http.post(f"{self.url}/new", json={"prompt": prompt}) as response,
            ):
                body = await response.json()
                if response.status != 201:
                    raise SSEResponseError(
                        body.get("error", ""), status=response.status, body=json.dumps(body)
                    )
            self.answer_id = body["id"]
            await self._follow(f"{self.url}{body['stream_url']}", started)
        except aiohttp.ClientConnectorError as exc:
            self._set(status="error", error=server_stopped(exc))
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
        try:
            async with (
                aiohttp.ClientSession(headers=self._headers) as http,
                http.delete(f"{self.url}/sse/{self.answer_id}") as response,
            ):
                await response.read()
        except aiohttp.ClientConnectorError as exc:
            self._set(status="error", error=server_stopped(exc))

    def _start(self, prompt: str) -> None:
        if prompt.strip() and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self.ask(prompt))

    def _begin(self, prompt: str) -> None:
        self.answer, self.deltas, self.answer_id = "", 0, None
        self.first_token_s = self.tokens_per_s = None
        self.finish_reason = self.error = self.usage = None
        self.prompt.value = prompt
        self.send.disabled, self.stop.disabled = True, False
        self._set(status="connecting")

    async def _follow(self, url: str, started: float) -> None:
        """Stream the answer at `url` as the lab's chat page does: listeners show each event
        as it is read, in order with the connection's errors; `done` and the server's
        `error` close the source, which otherwise reconnects."""
        source = EventSourcePolyfill(url, headers=self._headers)
        source.on_message = lambda event: self._delta(json.loads(event.data)["delta"], started)
        source.add_event_listener("done", lambda event: self._end(source, event))
        source.add_event_listener("error", lambda event: self._end(source, event))
        source.on_error = lambda: self._cut(source)
        async with source:
            async for _event in source:
                pass  # the listeners show the events; this waits until the source closes

    def _delta(self, text: str, started: float) -> None:
        elapsed = time.monotonic() - started
        if self.first_token_s is None:
            self.first_token_s = elapsed
        self.deltas += 1
        self.answer += text
        if elapsed > self.first_token_s:
            self.tokens_per_s = (self.deltas - 1) / (elapsed - self.first_token_s)
        self._set(status="streaming", error=None)  # after a cut: resumed

    def _end(self, source: EventSource, event: ServerSentEvent) -> None:
        """`done` or the server's `error`: the answer is over (its data may say more)."""
        source.close()
        data = json.loads(event.data)
        if event.event == "error":
            self._set(status="error", error=data.get("message"))
            return
        reason, usage = data.get("finish_reason"), Usage.of(data.get("usage"))
        status = "stopped" if reason == "stopped" else "done"
        self._set(status=status, finish_reason=reason, usage=usage)

    def _cut(self, source: EventSource) -> None:
        """The connection ended before `done`: cut off while the source reconnects with
        Last-Event-ID, and for good if it cannot (a refused first request is an error)."""
        if source.ready_state == source.CONNECTING:
            message = _("the stream was cut off after {deltas} deltas, before `done`; reconnecting")
            self._set(status="cut off", error=message.format(deltas=self.deltas))
            return
        reason = str(source.attempts[-1].error)
        if self.status != "cut off":
            self._set(status="error", error=reason)
            return
        message = _(
            "the stream was cut off after {deltas} deltas, before `done`, and could not "
            "resume: {reason}"
        )
        self._set(error=message.format(deltas=self.deltas, reason=reason))

    def _set(self, **changes: object) -> None:
        status = self.status
        for name, value in changes.items():
            setattr(self, name, value)
        if self.status != status or self.status != "streaming":
            self._update_text_copy()  # not per delta: once streaming, then at the end
        self.output.value = f"<div class='sse-lab-answer'>{answer_html(self.answer)}</div>"
        self.status_line.value = self._status_html()

    def _status_html(self) -> str:
        parts = [f"<b>{self.status}</b>"]
        if self.first_token_s is not None:
            parts.append(f"first token after {self.first_token_s * 1000:.0f} ms")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:.0f} tokens/s")
        if self.usage is not None:
            parts.append(token_counts(self.usage))
        if self.error:
            parts.append(html.escape(self.error))
        return "<span class='sse-lab-status'>" + " · ".join(parts) + "</span>"

    def summary(self) -> str:
        """The view's state as text, for printing under test (no timings: they vary)."""
        return f"status: {self.status}, {self.deltas} deltas, finish_reason: {self.finish_reason}"

    def text_copy(self) -> str:
        """The prompt, the answer and the status, as text (no timings: they vary)."""
        lines = [f"[ChatView] {self.summary()}"]
        if self.error:
            lines.append(f"error: {self.error}")
        if self.usage is not None:
            lines.append(f"usage: {token_counts(self.usage)}")
        if self.prompt.value:
            lines.append(f"you: {self.prompt.value}")
        if self.answer:
            lines.append(f"answer: {self.answer}")
        return "\n".join(lines)


def token_counts(usage: Usage) -> str:
    """An answer's `usage` in words: "12 + 96 = 108 tokens" (the prompt's, the answer's, all)."""
    # TRANSLATORS: a model's token counts: the prompt's + the answer's = all of them
    return _("{prompt} + {completion} = {total} tokens").format(
        prompt=usage.prompt_tokens, completion=usage.completion_tokens, total=usage.total_tokens
    )

"""The chat view and the event log, driven without a browser (their state is plain attributes)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nbformat
from aiohttp import web
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from traitlets.config import Config

from conftest import serving_app, until
from sse_lab.clients import EventSource, fetch_event_source
from sse_lab.config import FAILING_MODEL, Upstream
from sse_lab.lab.launch import start_server
from sse_lab.lab.widgets import ChatView, EventLog
from sse_lab.model import answer_tokens
from sse_lab.sse import ServerSentEvent, encode_retry


async def test_the_chat_view_streams_an_answer_to_done(lab) -> None:
    view = ChatView(lab.url, lab.tokens["alice"])
    prompt = "How does Last-Event-ID work?"

    answer = await view.ask(prompt)

    assert answer == view.answer == "".join(answer_tokens(prompt))
    assert view.status == "done" and view.finish_reason == "stop"
    assert view.deltas == len(answer_tokens(prompt))
    assert view.first_token_s is not None and view.answer_id is not None
    assert view.summary() == f"status: done, {view.deltas} deltas, finish_reason: stop"
    assert "How does" in view.prompt.value and not view.send.disabled and view.stop.disabled
    assert answer[:20] in view.output.value
    assert view.usage is not None and view.usage.completion_tokens == view.deltas
    assert view.usage.total_tokens == view.usage.prompt_tokens + view.deltas > view.deltas


async def test_the_chat_views_status_line_shows_the_answers_token_counts(lab, said) -> None:
    view = ChatView(lab.url, lab.tokens["alice"])
    await view.ask("What is SSE?")

    assert view.usage is not None
    prompt, completion, total = (
        view.usage.prompt_tokens,
        view.usage.completion_tokens,
        view.usage.total_tokens,
    )
    counts = said(
        f"{prompt} + {completion} = {total} tokens", f"{prompt} + {completion} = {total} 个 token"
    )
    assert view.status_line.value.endswith(f" · {counts}</span>")
    assert f"usage: {counts}" in view.text_copy()


async def test_send_and_stop_buttons_work_while_the_kernel_stays_free(tmp_path: Path) -> None:
    with start_server(token_delay=0.03, db_path=str(tmp_path / "lab.db")) as lab:
        view = ChatView(lab.url, lab.tokens["alice"])
        view.prompt.value = "Tell me about WebSockets"
        view.send.click()
        assert await until(lambda: view.deltas >= 3)
        view.stop.click()
        assert await until(lambda: view.status == "stopped")
    assert 3 <= view.deltas < len(answer_tokens("Tell me about WebSockets"))
    assert view.finish_reason == "stopped"
    assert view.usage is None  # stopped before the model's last chunk, which has the counts
    assert " = " not in view.status_line.value and "usage:" not in view.text_copy()


async def test_a_wrong_token_shows_an_error(lab) -> None:
    view = ChatView(lab.url, "not-a-token")
    assert await view.ask("hi") == ""
    assert view.status == "error"
    assert "token" in (view.error or "")


def delta(n: int, text: str) -> bytes:
    return ServerSentEvent(data=json.dumps({"delta": text}), id=str(n)).encode()


DONE = ServerSentEvent(data='{"finish_reason": "stop"}', event="done", id="4").encode()


@asynccontextmanager
async def chat_server(*connections: bytes | int) -> AsyncIterator[str]:
    """A server of the chat design with one scripted answer: the n-th GET /sse/{id} gets
    connections[n], its events (then the body ends) or a status; yields the server's URL."""
    gets = iter(connections)

    async def new(request: web.Request) -> web.Response:
        return web.json_response({"id": "ans_1", "stream_url": "/sse/ans_1"}, status=201)

    async def sse(request: web.Request) -> web.StreamResponse:
        connection = next(gets)
        if isinstance(connection, int):
            return web.json_response({"error": "the upstream is gone"}, status=connection)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(encode_retry(10) + connection)
        return response

    app = web.Application()
    app.router.add_post("/new", new)
    app.router.add_get("/sse/ans_1", sse)
    async with serving_app(app) as url:
        yield url


def statuses(view: ChatView) -> list[str]:
    """Each status the view shows from now on, in order, once each time it changes."""
    seen: list[str] = []
    view.status_line.observe(
        lambda _: seen.append(view.status) if view.status not in seen[-1:] else None, "value"
    )
    return seen


async def test_a_cut_the_view_resumes_from_shows_cut_off_then_done() -> None:
    first, rest = delta(1, "one") + delta(2, " two"), delta(3, " three") + DONE
    async with chat_server(first, rest) as url:
        view = ChatView(url, "tok_anything_at_all")
        seen = statuses(view)
        assert await view.ask("count to three") == "one two three"
    assert seen == ["connecting", "streaming", "cut off", "streaming", "done"]
    assert view.summary() == "status: done, 3 deltas, finish_reason: stop"
    assert view.error is None


async def test_a_cut_the_view_cannot_resume_from_ends_cut_off(said) -> None:
    async with chat_server(delta(1, "one") + delta(2, " two"), 502) as url:
        view = ChatView(url, "tok_anything_at_all")
        assert await view.ask("count to three") == "one two"

    assert view.summary() == "status: cut off, 2 deltas, finish_reason: None"
    assert view.error is not None
    assert view.error.startswith(said("the stream was cut off after 2 deltas", "流在收到 2 个增量"))
    assert said("could not resume: HTTP 502", "没能续传：HTTP 502") in view.error
    assert "<b>cut off</b>" in view.status_line.value
    assert f"error: {view.error}" in view.text_copy()


async def test_an_error_event_after_some_deltas_ends_the_view_in_error(tmp_path: Path) -> None:
    failing = Upstream(model=FAILING_MODEL)
    with start_server(token_delay=0, upstream=failing, db_path=str(tmp_path / "lab.db")) as lab:
        view = ChatView(lab.url, lab.tokens["alice"])
        answer = await view.ask("What is SSE?")

    assert view.status == "error" and view.finish_reason is None
    assert (
        view.error
        == f"the model failed: {FAILING_MODEL} fails halfway through every answer, on purpose"
    )
    assert view.deltas == len(answer_tokens("What is SSE?")) // 2
    assert answer and answer in "".join(answer_tokens("What is SSE?"))


async def test_html_in_the_models_answer_is_shown_as_text_never_run(lab) -> None:
    view = ChatView(lab.url, lab.tokens["alice"])
    prompt = "<script>alert(1)</script> <img src=x onerror=alert(2)> ![x](http://127.0.0.1:9/b)"
    answer = await view.ask(prompt)  # the built-in model quotes a question it cannot answer

    assert prompt in answer and view.status == "done"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in view.output.value
    assert "&lt;img src=x onerror=alert(2)&gt;" in view.output.value
    assert '<a href="http://127.0.0.1:9/b">x</a>' in view.output.value  # not loaded by itself
    assert "<script" not in view.output.value and "<img" not in view.output.value
    assert f"answer: {answer}" in view.text_copy()  # the text copy stays plain text


async def test_the_answer_streams_as_markdown_an_open_code_fence_as_a_code_block() -> None:
    pieces = ["Run **this**:\n\n", "```python\n", "print('<b>')\n", "```\n"]
    events = b"".join(delta(n, text) for n, text in enumerate(pieces, 1))
    async with chat_server(events + DONE) as url:
        view = ChatView(url, "tok_anything_at_all")
        shown: dict[str, str] = {}  # the HTML shown for each text so far
        view.output.observe(lambda change: shown.update({view.answer: change["new"]}), "value")
        await view.ask("show me code")

    fence_open = shown["".join(pieces[:3])]  # the code has come, its closing fence not yet
    code = "<pre><code class=\"language-python\">print('&lt;b&gt;')\n</code></pre>"
    assert "<p>Run <strong>this</strong>:</p>" in fence_open
    assert code in fence_open
    assert code in view.output.value
    assert view.answer == "".join(pieces)


async def test_the_event_log_records_each_event_in_order(lab) -> None:
    log = EventLog()
    async with EventSource(f"{lab.url}/sse?count=3&interval_ms=0") as source:
        source.add_event_listener("done", lambda _: source.close())
        events = await log.follow(source)

    assert [row.event for row in log.rows] == events
    assert [e.id for e in events] == ["1", "2", "3", "4"]
    assert log.summary().splitlines()[-1].startswith("done     id=4")
    assert "<td>done</td>" in log.children[1].value


async def test_after_a_stop_send_says_the_server_is_stopped_and_how_to_start_it(
    tmp_path: Path,
) -> None:
    with start_server(token_delay=0, db_path=str(tmp_path / "lab.db")) as lab:
        view = ChatView(lab.url, lab.tokens["alice"])
    assert not lab.running

    assert await view.ask("hi") == ""

    assert view.status == "error"
    port = lab.url.rsplit(":", 1)[1]
    assert view.error is not None and f"the lab server at http://127.0.0.1:{port}" in view.error
    assert "is not running" in view.error and "lab = start_server()" in view.error
    assert "Connect call failed" not in view.error
    assert view.error in view.text_copy()


async def test_after_a_stop_the_event_log_says_the_server_is_stopped(tmp_path: Path) -> None:
    with start_server(token_delay=0, db_path=str(tmp_path / "lab.db")) as lab:
        url = f"{lab.url}/sse?count=3&interval_ms=0"
    log = EventLog("GET /sse")

    assert await log.follow(fetch_event_source(url)) == []

    assert log.error is not None and "is not running" in log.error
    assert "lab = start_server()" in log.children[2].value
    assert log.summary() == f"error: {log.error}"


async def test_a_chat_views_output_carries_a_text_copy_of_what_it_shows(lab) -> None:
    view = ChatView(lab.url, lab.tokens["alice"])
    before = view._repr_mimebundle_()
    await view.ask("What is <SSE>?")

    bundle, usage = view._repr_mimebundle_(), view.usage
    assert usage is not None
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.model_id
    assert before["text/plain"] == "[ChatView] status: idle, 0 deltas, finish_reason: None"
    assert (
        bundle["text/plain"]
        == view.text_copy()
        == "\n".join(
            [
                f"[ChatView] {view.summary()}",
                f"usage: {usage.prompt_tokens} + {view.deltas} = {usage.total_tokens} tokens",
                "you: What is <SSE>?",
                f"answer: {view.answer}",
            ]
        )
    )
    assert "you: What is &lt;SSE&gt;?" in bundle["text/html"]
    assert sanitized(before["text/plain"]) == sanitized(bundle["text/plain"])
    assert sanitized(before["text/html"]) == sanitized(bundle["text/html"])


def sanitized(text: str) -> str:
    """`text` as nbval compares it, after the rules of notebooks/sanitize.cfg."""
    rules = re.findall(r"^regex: (.*)$\n^replace: (.*)$", SANITIZE.read_text(), re.MULTILINE)
    for pattern, replacement in rules:
        text = re.sub(pattern, replacement, text)
    return text


SANITIZE = Path(__file__).resolve().parent.parent / "notebooks" / "sanitize.cfg"

# A notebook that shows both widgets, as 00 and 01 do.
SHOWN = """
from sse_lab import fetch_event_source, start_server
from sse_lab.lab.widgets import ChatView, EventLog

lab = start_server(token_delay=0)
view = ChatView(lab.url, lab.tokens["alice"])
display(view)
await view.ask("What is SSE?")
log = EventLog("GET /sse")
display(log)
await log.follow(fetch_event_source(lab.url + "/sse?count=2&interval_ms=0"))
lab.stop()
"""


def test_a_saved_notebook_keeps_the_last_text_copy_and_shows_it_in_html_offline() -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SHOWN)])
    NotebookClient(notebook, kernel_name="python3", timeout=60).execute()
    (view_output, log_output) = notebook.cells[0].outputs[:2]
    answer = "".join(answer_tokens("What is SSE?"))

    assert view_output.data["text/plain"].startswith("[ChatView] status: done, ")
    assert view_output.data["text/plain"].endswith(f"answer: {answer}")
    assert log_output.data["text/plain"].startswith("[EventLog] GET /sse: 3 events\nmessage")

    # Offline there is no widget renderer: without the widgets' saved state, an export
    # shows each output's text copy where the widget would be.
    exporter = HTMLExporter(config=Config({"ClearMetadataPreprocessor": {"enabled": True}}))
    page, _ = exporter.from_notebook_node(notebook)
    assert html.escape(answer[:60]) in page
    assert "[EventLog] GET /sse: 3 events" in page

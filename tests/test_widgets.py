"""The chat view and the event log, driven without a browser (their state is plain attributes)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from traitlets.config import Config

from conftest import until
from sse_lab.clients import EventSource, fetch_event_source
from sse_lab.lab.launch import start_server
from sse_lab.lab.widgets import ChatView, EventLog
from sse_lab.model import answer_tokens


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

"""The chat view and the event log, driven without a browser (their state is plain attributes)."""

from __future__ import annotations

from pathlib import Path

from conftest import until

from sse_lab.clients import EventSource
from sse_lab.launch import start_server
from sse_lab.model import answer_tokens
from sse_lab.widgets import ChatView, EventLog


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

"""Notebook 08's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import aiohttp
import pytest
from IPython.core.interactiveshell import InteractiveShell

from conftest import SOLUTIONS, load_solution
from sse_lab import ServerSentEvent, fetch_event_source
from sse_lab.lab.exercises.real_apps import check_how_it_ended, check_tokens_after_leaving

# how_it_ended


async def test_the_how_it_ended_solution_passes(capsys, said) -> None:
    assert await check_how_it_ended(load_solution("08_how_it_ended").how_it_ended)
    assert capsys.readouterr().out == said(
        "✅ how_it_ended tells finished, failed and cut off apart, a stop and no events too\n",
        "✅ how_it_ended 分得清完成、失败和被切断，用户停止的回答和空列表也没问题\n",
    )


async def test_the_how_it_ended_stub_fails_without_raising(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        # "finished", "failed" or "cut off": how the stream these events came from ended.
        ...  # your code here

    assert not await check_how_it_ended(how_it_ended)
    assert (
        said(
            'returned None: return "finished", "failed" or "cut off"',
            '返回了 None：应返回 "finished"、"failed" 或 "cut off" 之一',
        )
        in capsys.readouterr().out
    )


async def test_the_last_event_type_is_told_the_three_answers(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        return events[-1].event if events else "cut off"

    assert not await check_how_it_ended(how_it_ended)
    assert said("returned 'done': return", "返回了 'done'：应返回") in capsys.readouterr().out


async def test_the_last_event_of_no_events_is_told_to_check_first(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        last = events[-1].event
        return {"done": "finished", "error": "failed"}.get(last, "cut off")

    assert not await check_how_it_ended(how_it_ended)
    assert (
        said(
            "raised IndexError: an empty list is a stream cut before any event: check for it "
            "before events[-1]",
            "抛出了 IndexError：空列表就是在第一个事件之前就被切断的流；取 events[-1] 之前先判断它",
        )
        in capsys.readouterr().out
    )


async def test_an_empty_list_called_failed_is_told_it_was_cut_off(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        if not events:
            return "failed"  # nothing came: something went wrong
        return {"done": "finished", "error": "failed"}.get(events[-1].event, "cut off")

    assert not await check_how_it_ended(how_it_ended)
    assert (
        said(
            "returned 'failed', but an empty list is a stream cut before any event: cut off",
            "返回了 'failed'，但空列表就是在第一个事件之前就被切断的流",
        )
        in capsys.readouterr().out
    )


async def test_a_stop_called_failed_is_told_a_stop_ends_with_done(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        if not events or events[-1].event == "message":
            return "cut off"
        if events[-1].event == "error":
            return "failed"
        finish_reason = json.loads(events[-1].data)["finish_reason"]
        return "finished" if finish_reason == "stop" else "failed"

    assert not await check_how_it_ended(how_it_ended)
    out = capsys.readouterr().out
    assert said("an answer its user stopped (DELETE)", "被用户停止（DELETE）的回答") in out
    assert (
        said(
            "returned 'failed', but a stop ends with `done`, finish_reason \"stopped\": the "
            "answer finished",
            "返回了 'failed'，但被停止的回答也以 `done` 结尾，finish_reason 为 \"stopped\"",
        )
        in out
    )


async def test_an_error_called_finished_is_told_it_failed(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        return "finished" if events and events[-1].event != "message" else "cut off"

    assert not await check_how_it_ended(how_it_ended)
    assert (
        said(
            "returned 'finished', but they end with an `error` event, and no `done` came",
            "返回了 'finished'，但它们以 `error` 事件结尾，`done` 没有来",
        )
        in capsys.readouterr().out
    )


async def test_looking_only_for_done_is_told_an_error_is_a_failure(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        return "finished" if any(event.event == "done" for event in events) else "cut off"

    assert not await check_how_it_ended(how_it_ended)
    out = capsys.readouterr().out
    assert said("an answer the failing model broke off", "被故障模型中途打断的回答") in out
    assert said("returned 'cut off', but they end with an `error`", "返回了 'cut off'，但") in out


async def test_deltas_called_finished_are_told_the_stream_was_cut_off(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        return "failed" if events and events[-1].event == "error" else "finished"

    assert not await check_how_it_ended(how_it_ended)
    out = capsys.readouterr().out
    assert said("the first 7 events of an answer", "连接断开时一个回答的前 7 个事件") in out
    assert (
        said(
            "returned 'finished', but no `done` or `error` event came, only deltas: the "
            "stream was cut off",
            "返回了 'finished'，但没有 `done` 也没有 `error` 事件，只有增量：流被切断了",
        )
        in out
    )


async def test_waiting_for_openais_done_marker_is_told_the_lab_sends_done(capsys, said) -> None:
    def how_it_ended(events: list[ServerSentEvent]) -> str:
        if events and events[-1].data == "[DONE]":  # how OpenAI's own stream ends
            return "finished"
        return "failed" if events and events[-1].event == "error" else "cut off"

    assert not await check_how_it_ended(how_it_ended)
    assert (
        said(
            "(events) on the 104 events of a finished answer returned 'cut off', but they "
            "end with a `done` event: the answer finished",
            "（events 为一个已完成回答的 104 个事件） 返回了 'cut off'，但它们以 `done` 事件结尾",
        )
        in capsys.readouterr().out
    )


def run_check(shell: InteractiveShell, name: str) -> object:
    """Run the notebook's check cell for `name` in the shell: the Verdict."""
    check = f"from sse_lab.lab.exercises.real_apps import check_{name}\n"
    shell.run_cell(check + f"verdict = await check_{name}({name})", True)
    return shell.user_ns["verdict"]


@pytest.mark.parametrize("name", ["how_it_ended", "tokens_after_leaving"])
def test_a_function_whose_latest_cell_did_not_compile_is_told_so(name, shell, capsys, said) -> None:
    solution = (SOLUTIONS / f"08_{name}.py").read_text()
    assert shell.run_cell(solution, store_history=True).success
    broken = solution.replace("\n    ", "\n  ", 1)  # the docstring's indent: no longer the body's
    assert not shell.run_cell(broken, store_history=True).success
    assert not run_check(shell, name)
    assert (
        said(
            f"your latest cell defining {name} did not run (IndentationError",
            f"你最近一个定义 {name} 的单元格没有运行成功（IndentationError",
        )
        in capsys.readouterr().out
    )


# tokens_after_leaving


async def post(url: str, token: str, prompt: str) -> tuple[aiohttp.ClientSession, str]:
    """POST the prompt to /new: a session with the token, and the answer's stream URL."""
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
    async with session.post(f"{url}/new", json={"prompt": prompt}) as response:
        return session, url + (await response.json())["stream_url"]


def deltas(events: list[ServerSentEvent]) -> int:
    return sum(event.event == "message" for event in events)


async def test_the_tokens_after_leaving_solution_passes(capsys, said) -> None:
    solution = load_solution("08_tokens_after_leaving").tokens_after_leaving
    assert await check_tokens_after_leaving(solution)
    assert capsys.readouterr().out == said(
        "✅ tokens_after_leaving counts what the model wrote after its reader left: 98, 10\n",
        "✅ tokens_after_leaving 数对了读者离开后模型又写了多少 token：98, 10\n",
    )


async def test_counting_the_deltas_that_came_back_passes_too(capsys) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        session, stream_url = await post(url, token, prompt)
        async with session:
            async for event in fetch_event_source(stream_url, session=session):
                if event.id == str(read):
                    break
            back = {"Last-Event-ID": str(read)}
            rest = fetch_event_source(stream_url, headers=back, session=session)
            return deltas([event async for event in rest])

    assert await check_tokens_after_leaving(tokens_after_leaving)
    assert capsys.readouterr().out.startswith("✅ ")


async def test_the_tokens_after_leaving_stub_fails_without_raising(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        # How many tokens the model wrote after you left, having read `read` deltas.
        ...  # your code here

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert (
        said(
            "returned None: return the number of tokens, an int",
            "返回了 None：应返回 token 数，一个 int",
        )
        in capsys.readouterr().out
    )


async def test_returning_the_usage_object_is_told_to_return_an_int(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> object:
        session, stream_url = await post(url, token, prompt)
        async with session:
            async for event in fetch_event_source(stream_url, session=session):
                if event.id == str(read):
                    break
            back = {"Last-Event-ID": str(read)}
            async for event in fetch_event_source(stream_url, headers=back, session=session):
                if event.event == "done":
                    return json.loads(event.data)["usage"]
        return None

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert (
        said(
            "returned a dict: return the number of tokens, an int",
            "返回了一个 dict：应返回 token 数，一个 int",
        )
        in capsys.readouterr().out
    )


async def test_all_completion_tokens_are_told_to_subtract_what_was_read(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        session, stream_url = await post(url, token, prompt)
        async with session:
            async for event in fetch_event_source(stream_url, session=session):
                if event.id == str(read):
                    break
            back = {"Last-Event-ID": str(read)}
            async for event in fetch_event_source(stream_url, headers=back, session=session):
                if event.event == "done":
                    return json.loads(event.data)["usage"]["completion_tokens"]
        return 0

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert (
        said(
            "returned 103, all the tokens of the answer: subtract the 5 the reader read",
            "返回了 103，是回答的全部 token 数：要减去离开前已经读到的 5 个",
        )
        in capsys.readouterr().out
    )


async def test_stopping_the_answer_is_told_that_leaving_is_closing(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        session, stream_url = await post(url, token, prompt)
        async with session:
            async for event in fetch_event_source(stream_url, session=session):
                if event.id == str(read):
                    break
            await session.delete(stream_url)  # leave
            back = {"Last-Event-ID": str(read)}
            rest = fetch_event_source(stream_url, headers=back, session=session)
            return deltas([event async for event in rest])

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    out = capsys.readouterr().out
    assert said("the server saw DELETE /sse/ans_", "服务器收到了 DELETE /sse/ans_") in out
    assert (
        said(
            "leaving is closing the connection, and the model goes on writing",
            "离开只是关闭连接，模型会接着写下去",
        )
        in out
    )


async def test_asking_through_ask_is_told_its_answer_ends_with_its_reader(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        ask_url = f"{url}/ask?prompt={quote(prompt)}"
        async with aiohttp.ClientSession() as session:
            async for event in fetch_event_source(ask_url, session=session):
                if event.id == str(read):
                    break
            back = {"Last-Event-ID": str(read)}
            rest = fetch_event_source(ask_url, headers=back, session=session)
            return deltas([event async for event in rest])

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert (
        said(
            "the server saw GET /ask, whose answer ends when its reader leaves: POST the "
            "prompt to /new",
            "服务器收到了 GET /ask，它的回答在读者离开时就结束了：把提示词 POST 到 /new",
        )
        in capsys.readouterr().out
    )


async def test_never_leaving_is_told_to_leave_and_come_back(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        session, stream_url = await post(url, token, prompt)
        async with session:
            events = [e async for e in fetch_event_source(stream_url, session=session)]
        return deltas(events[read:])

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert (
        said(
            "the server saw no second GET of the answer's stream: read 5 deltas, leave",
            "服务器没有收到对回答流的第二次 GET：先读 5 个增量，离开",
        )
        in capsys.readouterr().out
    )


READ_ON = (
    "your first reading of the stream went on past 5 deltas: leave right after delta 5",
    "你第一次读流时读过了 5 个增量：读完第 5 个增量就离开",
)


async def test_reading_on_to_the_end_before_leaving_is_told_so(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        session, stream_url = await post(url, token, prompt)
        async with session:
            seen = 0
            async for event in fetch_event_source(stream_url, session=session):
                seen += event.event == "message"
                if seen == read:
                    last_id = event.id  # but no break: the loop reads on to `done`
            back = {"Last-Event-ID": last_id}
            async for event in fetch_event_source(stream_url, headers=back, session=session):
                if event.event == "done":
                    return json.loads(event.data)["usage"]["completion_tokens"] - read
        return 0

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert said(*READ_ON) in capsys.readouterr().out


async def test_coming_back_after_the_last_event_seen_is_told_it_read_on(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int | None:
        session, stream_url = await post(url, token, prompt)
        async with session:
            last_id = "0"
            async for event in fetch_event_source(stream_url, session=session):
                last_id = event.id or last_id  # no break: the last id seen is the done's
            back = {"Last-Event-ID": last_id}  # so the server answers 204: nothing is left
            async for event in fetch_event_source(stream_url, headers=back, session=session):
                if event.event == "done":
                    return json.loads(event.data)["usage"]["completion_tokens"] - read
        return None

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert said(*READ_ON) in capsys.readouterr().out


async def test_coming_back_without_last_event_id_is_told_so(capsys, said) -> None:
    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        session, stream_url = await post(url, token, prompt)
        async with session:
            async for event in fetch_event_source(stream_url, session=session):
                if event.id == str(read):
                    break
            rest = fetch_event_source(stream_url, session=session)  # come back
            return deltas([event async for event in rest])

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert (
        said(
            "returned 103, the whole answer's tokens: you came back without Last-Event-ID",
            "返回了 103，是整个回答的 token 数：你回来时没带 Last-Event-ID",
        )
        in capsys.readouterr().out
    )


async def test_waiting_for_ever_is_told_to_return_at_done(
    capsys, said, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sse_lab.lab.exercises.real_apps._TIMEOUT", 1.0)

    async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
        session, stream_url = await post(url, token, prompt)
        async with session:
            async for event in fetch_event_source(stream_url, session=session):
                if event.id == str(read):
                    break
            await asyncio.sleep(60)  # let the model finish before coming back
        return 0

    assert not await check_tokens_after_leaving(tokens_after_leaving)
    assert (
        said(
            "did not return within 1 s: come back with Last-Event-ID, read to the `done` "
            "event, and return",
            "在 1 秒内没有返回：带上 Last-Event-ID 回来，读到 `done` 事件就返回",
        )
        in capsys.readouterr().out
    )

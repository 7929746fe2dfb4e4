"""The answer stores' one contract (sse_lab.stores.base), on SQLite and on a real Redis alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from conftest import until
from sse_lab.stores.base import AnswerEnded, AnswerStore, Outcome, Progress, Watcher
from sse_lab.stores.redis import RedisAnswerStore
from sse_lab.stores.sqlite import SQLiteAnswerStore


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[AnswerStore]:
    """Each store the server can use: SQLite in memory, and a real Redis."""
    if request.param == "sqlite":
        opened: AnswerStore = SQLiteAnswerStore()
    else:
        opened = await RedisAnswerStore.connect(request.getfixturevalue("redis_server").url)
    yield opened
    await opened.close()


def deltas_of(news: list[Progress]) -> list[list[tuple[int, str]]]:
    return [p.deltas for p in news]


async def test_an_answer_is_read_back_in_order_after_any_sequence_number(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "hi?")
    for seq, text in enumerate(["Hel", "lo", "!"], 1):
        await store.append(answer.id, seq, [text])

    assert (await store.read(answer.id, 0)).deltas == [(1, "Hel"), (2, "lo"), (3, "!")]
    assert (await store.read(answer.id, 2)).deltas == [(3, "!")]
    assert (await store.read(answer.id, 3)).deltas == []
    assert (await store.read(answer.id, 3)).last_seq == 3


async def test_finished_answers_are_read_back_with_their_end(store: AnswerStore) -> None:
    answer = await store.create("alice", "hi?")
    await store.append(answer.id, 1, ["Hi"])
    assert await store.finish(answer.id, Outcome("done", "stop"))

    progress = await store.read(answer.id, 0)
    assert progress.deltas == [(1, "Hi")]
    assert (progress.status, progress.outcome.finish_reason, progress.last_seq) == (
        "done",
        "stop",
        1,
    )
    for seen in (1, 2):  # a reader that has every delta, or the end too, still learns the end
        progress = await store.read(answer.id, seen)
        assert (progress.deltas, progress.status, progress.last_seq) == ([], "done", 1)


async def test_the_first_end_wins(store: AnswerStore) -> None:
    answer = await store.create("alice", "hi?")
    assert await store.finish(answer.id, Outcome("done", "stopped"))
    assert not await store.finish(answer.id, Outcome("done", "stop"))
    assert (await store.get(answer.id)).outcome.finish_reason == "stopped"  # type: ignore[union-attr]


async def test_a_delta_out_of_order_is_refused(store: AnswerStore) -> None:
    answer = await store.create("alice", "hi?")
    with pytest.raises(ValueError, match="out of order"):
        await store.append(answer.id, 2, ["skipped one"])


async def test_deltas_that_came_together_are_appended_together(store: AnswerStore) -> None:
    answer = await store.create("alice", "hi?")
    await store.append(answer.id, 1, ["Hel", "lo"])
    await store.append(answer.id, 3, ["!"])
    assert (await store.read(answer.id, 1)).deltas == [(2, "lo"), (3, "!")]
    with pytest.raises(ValueError, match="out of order"):
        await store.append(answer.id, 3, ["again"])


async def test_a_delta_that_is_not_valid_unicode_is_refused_and_harms_no_other(
    store: AnswerStore,
) -> None:
    # A model's JSON may carry half of a UTF-16 pair, which no database can store as text.
    first, second = await store.create("alice", "one"), await store.create("bob", "two")
    await store.append(first.id, 1, ["fine"])
    with pytest.raises(UnicodeEncodeError):
        await store.append(second.id, 1, ["\ud83d"])
    await asyncio.sleep(0)  # the commit
    assert (await store.read(first.id, 0)).deltas == [(1, "fine")]
    assert (await store.read(second.id, 0)).deltas == []


async def test_ids_are_unguessable_and_unknown_ids_have_no_row(store: AnswerStore) -> None:
    ids = {(await store.create("alice", "q")).id for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("ans_") and len(i) >= 26 for i in ids)
    assert await store.get("ans_nope") is None


def told(news: list[Progress]) -> list[tuple[int, str]]:
    """Every delta the watcher was told, in order, however the calls grouped them."""
    return [delta for progress in news for delta in progress.deltas]


async def test_a_watcher_gets_what_is_stored_then_each_commit_then_the_end(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "q")
    await store.append(answer.id, 1, ["a", "b"])
    news: list[Progress] = []
    store.watch(answer.id, 1, news.append)
    assert await until(lambda: told(news) == [(2, "b")])  # what it lacks of the stored

    await store.append(answer.id, 3, ["c"])
    assert await until(lambda: told(news) == [(2, "b"), (3, "c")])
    await store.finish(answer.id, Outcome("done", "stop"))
    assert await until(lambda: news[-1].status != "running")
    assert told(news) == [(2, "b"), (3, "c")]
    assert all(p.status == "running" for p in news[:-1])  # the end is the last call
    assert (news[-1].status, news[-1].outcome.finish_reason, news[-1].last_seq) == (
        "done",
        "stop",
        3,
    )


async def test_every_watcher_hears_the_end_even_if_one_unwatches_on_hearing_it(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "q")
    heard: list[str] = []
    unwatches = {}

    def watcher(name: str) -> Watcher:
        def hear(progress: Progress) -> None:
            heard.append(name)
            unwatches[name]()

        return hear

    for name in ("first", "second"):
        unwatches[name] = store.watch(answer.id, 0, watcher(name))
    await store.finish(answer.id, Outcome("done", "stop"))
    assert await until(lambda: len(heard) == 2)
    assert heard == ["first", "second"]


async def test_a_watcher_of_an_ended_answer_gets_all_of_it_at_once(store: AnswerStore) -> None:
    answer = await store.create("alice", "q")
    await store.append(answer.id, 1, ["a"])
    await store.finish(answer.id, Outcome("error", None, "it broke"))
    news: list[Progress] = []
    unwatch = store.watch(answer.id, 0, news.append)
    assert await until(lambda: bool(news))
    unwatch()
    assert [(p.deltas, p.status, p.outcome.error) for p in news] == [
        ([(1, "a")], "error", "it broke")
    ]


async def test_an_unwatched_watcher_hears_no_more(store: AnswerStore) -> None:
    answer = await store.create("alice", "q")
    news: list[Progress] = []
    unwatch = store.watch(answer.id, 0, news.append)
    await store.append(answer.id, 1, ["a"])
    assert await until(lambda: told(news) == [(1, "a")])
    unwatch()
    unwatch()  # safe to repeat
    still: list[Progress] = []
    store.watch(answer.id, 1, still.append)  # hears what the first would have
    await store.append(answer.id, 2, ["b"])
    await store.finish(answer.id, Outcome("done", "stop"))
    assert await until(lambda: bool(still) and still[-1].status == "done")
    assert told(still) == [(2, "b")]
    assert told(news) == [(1, "a")] and news[-1].status == "running"


async def test_reading_an_unknown_answer_is_a_key_error(store: AnswerStore) -> None:
    with pytest.raises(KeyError):
        await store.read("ans_nope", 0)


async def test_the_stored_answer_is_the_same_whichever_call_reads_it(store: AnswerStore) -> None:
    answer = await store.create("bob", "what?")
    await store.append(answer.id, 1, ["one ", "two"])
    await store.finish(answer.id, Outcome("done", "length"))
    row = await store.get(answer.id)
    assert row is not None
    assert (row.owner, row.prompt, row.status, row.outcome.finish_reason) == (
        "bob",
        "what?",
        "done",
        "length",
    )
    assert row.created_at == pytest.approx(answer.created_at)
    progress = await store.read(answer.id, 0)
    assert (progress.deltas, progress.last_seq) == ([(1, "one "), (2, "two")], 2)


async def test_an_append_to_an_ended_or_unknown_answer_is_answer_ended_on_every_store(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "q")
    await store.append(answer.id, 1, ["a"])
    await store.finish(answer.id, Outcome("done", "stop"))
    with pytest.raises(AnswerEnded):
        await store.append(answer.id, 2, ["b"])
    with pytest.raises(AnswerEnded):
        await store.append("ans_nope", 1, ["b"])


async def test_a_watcher_is_told_nothing_before_watch_returns_then_what_is_stored(
    store: AnswerStore,
) -> None:
    running, ended = await store.create("alice", "q"), await store.create("bob", "q")
    for answer in (running, ended):
        await store.append(answer.id, 1, ["a"])
    await store.finish(ended.id, Outcome("done", "stop"))
    news: dict[str, list[Progress]] = {running.id: [], ended.id: []}
    for answer_id, heard in news.items():
        store.watch(answer_id, 0, heard.append)
        assert heard == []  # the same timing on every store: from its own callback or task
    assert await until(lambda: all(news.values()))
    assert [told(heard) for heard in news.values()] == [[(1, "a")], [(1, "a")]]


async def test_every_call_tells_the_same_outcome_and_the_writer_hears_of_its_end(
    store: AnswerStore,
) -> None:
    ended: list[str] = []
    store.on_ended(ended.append)
    answer = await store.create("alice", "q")
    news: list[Progress] = []
    store.watch(answer.id, 0, news.append)
    outcome = Outcome("error", None, "it broke")
    assert await store.finish(answer.id, outcome)
    assert ended == [answer.id]  # a stop from another caller would cancel generation here
    assert await until(lambda: bool(news))
    row = await store.get(answer.id)
    assert row is not None
    assert {news[-1].outcome, (await store.read(answer.id, 0)).outcome, row.outcome} == {outcome}

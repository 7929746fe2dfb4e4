"""The answer stores' one contract (sse_lab.stores.base), on SQLite and on a real Redis alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from conftest import Reader, until
from sse_lab.stores.base import AnswerEnded, AnswerStore, Delta, End, Outcome, Usage
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


async def test_the_models_usage_is_kept_with_the_end_and_told_by_every_call(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "hi?")
    reader = Reader(store, answer.id)
    await store.append(answer.id, 1, ["Hi"])
    ended = Outcome(
        "done", "stop", usage=Usage(prompt_tokens=2, completion_tokens=1, total_tokens=3)
    )
    assert await store.finish(answer.id, ended)

    await asyncio.wait_for(reader.task, 5)
    late = Reader(store, answer.id)  # after the end: from what is stored
    await asyncio.wait_for(late.task, 5)
    row = await store.get(answer.id)
    assert row is not None and reader.end is not None and late.end is not None
    read = await store.read(answer.id, 0)
    assert [row.outcome, read.outcome, reader.end.outcome, late.end.outcome] == [ended] * 4


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


async def test_a_reader_gets_what_is_stored_then_each_write_then_the_end(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "q")
    await store.append(answer.id, 1, ["a", "b"])
    reader = Reader(store, answer.id, 1)
    assert await until(lambda: reader.deltas == [(2, "b")])  # what it lacks of the stored

    await store.append(answer.id, 3, ["c"])
    assert await until(lambda: reader.deltas == [(2, "b"), (3, "c")])
    await store.finish(answer.id, Outcome("done", "stop"))
    await asyncio.wait_for(reader.task, 5)
    assert reader.deltas == [(2, "b"), (3, "c")]
    assert reader.end == End(4, Outcome("done", "stop"))
    assert not any(batch.ended for batch in reader.batches[:-1])  # the end comes last


async def test_every_reader_hears_the_end_and_one_that_leaves_takes_nothing_from_the_others(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "q")
    leaving, staying = Reader(store, answer.id), Reader(store, answer.id)
    await store.append(answer.id, 1, ["a"])
    assert await until(lambda: leaving.deltas == staying.deltas == [(1, "a")])
    leaving.task.cancel()  # while both wait for what comes next
    await store.append(answer.id, 2, ["b"])
    await store.finish(answer.id, Outcome("done", "stop"))
    await asyncio.wait_for(staying.task, 5)
    assert staying.deltas == [(1, "a"), (2, "b")]
    assert staying.end == End(3, Outcome("done", "stop"))
    late = Reader(store, answer.id, 1)  # after the end: from the store, at once
    await asyncio.wait_for(late.task, 5)
    assert (late.deltas, late.end) == ([(2, "b")], End(3, Outcome("done", "stop")))


async def test_a_reader_of_an_ended_answer_gets_all_of_it_at_once(store: AnswerStore) -> None:
    answer = await store.create("alice", "q")
    await store.append(answer.id, 1, ["a"])
    await store.finish(answer.id, Outcome("error", None, "it broke"))
    reader = Reader(store, answer.id)
    await asyncio.wait_for(reader.task, 5)
    assert [batch.pieces for batch in reader.batches] == [
        (Delta(1, "a"), End(2, Outcome("error", None, "it broke")))
    ]


async def test_readers_joining_while_deltas_come_miss_nothing_and_get_nothing_twice(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "q")
    readers = []
    for seq in range(1, 31):
        await store.append(answer.id, seq, [str(seq)])
        readers.append(Reader(store, answer.id, seq // 2))
        await asyncio.sleep(0.001 * (seq % 3))  # some join before the write, some after
    await store.finish(answer.id, Outcome("done", "stop"))
    await asyncio.wait_for(asyncio.gather(*(reader.task for reader in readers)), 10)
    for reader, seq in zip(readers, range(1, 31), strict=True):
        assert reader.deltas == [(n, str(n)) for n in range(seq // 2 + 1, 31)]
        assert reader.end == End(31, Outcome("done", "stop"))


async def test_a_reader_claiming_more_than_a_running_answer_has_is_refused(
    store: AnswerStore,
) -> None:
    answer = await store.create("alice", "q")
    await store.append(answer.id, 1, ["a", "b"])
    with pytest.raises(ValueError, match="has 2 deltas, not 3"):
        await Reader(store, answer.id, 3).task


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


async def test_every_call_tells_the_same_outcome_and_the_writer_hears_of_its_end(
    store: AnswerStore,
) -> None:
    ended: list[str] = []
    store.on_ended(ended.append)
    answer = await store.create("alice", "q")
    reader = Reader(store, answer.id)
    await asyncio.sleep(0.01)
    outcome = Outcome("error", None, "it broke")
    assert await store.finish(answer.id, outcome)
    assert ended == [answer.id]  # a stop from another caller would cancel generation here
    await asyncio.wait_for(reader.task, 5)
    row = await store.get(answer.id)
    assert row is not None and reader.end is not None
    assert {reader.end.outcome, (await store.read(answer.id, 0)).outcome, row.outcome} == {outcome}

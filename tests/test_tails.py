"""An answer's tail: what the store publishes of a running answer, shared by all its readers."""

from __future__ import annotations

import asyncio

import pytest

from conftest import Reader
from sse_lab.stores.base import Delta, End, Outcome
from sse_lab.stores.sqlite import SQLiteAnswerStore


async def started(heartbeat: float = 10.0) -> tuple[SQLiteAnswerStore, str]:
    store = SQLiteAnswerStore(heartbeat=heartbeat)
    return store, (await store.create("alice", "q")).id


async def test_every_reader_gets_the_very_same_batches_and_then_the_end() -> None:
    store, answer_id = await started()
    readers = [Reader(store, answer_id) for _ in range(3)]
    await asyncio.sleep(0)  # each has read the store (nothing yet) and waits on the tail
    await store.append(answer_id, 1, ["Hel", "lo"])
    await store.append(answer_id, 3, ["!"])
    await store.finish(answer_id, Outcome("done", "stop"))
    await asyncio.gather(*(reader.task for reader in readers))

    first = readers[0].batches
    assert all(reader.batches == first for reader in readers)  # the same objects: encoded once
    assert readers[0].texts == ["Hel", "lo", "!"]
    assert first[-1].pieces[-1] == End(4, Outcome("done", "stop"))
    assert store.tail(answer_id) is None  # the tail goes with the answer's end


async def test_a_reader_gets_only_what_it_lacks() -> None:
    store, answer_id = await started()
    await store.append(answer_id, 1, ["a", "b"])
    reader = Reader(store, answer_id, 1)
    await store.append(answer_id, 3, ["c"])
    await store.finish(answer_id, Outcome("done", "stop"))
    await reader.task
    assert reader.texts == ["b", "c"]


async def test_readers_joining_while_deltas_come_miss_nothing_and_get_nothing_twice() -> None:
    store, answer_id = await started()
    readers = []
    for seq in range(1, 21):
        await store.append(answer_id, seq, [str(seq)])
        readers.append(Reader(store, answer_id))  # its read commits what is pending
        if seq % 3 == 0:
            await asyncio.sleep(0)  # the readers so far read, then wait on the tail
    await store.finish(answer_id, Outcome("done", "stop"))
    await asyncio.gather(*(reader.task for reader in readers))
    assert all(reader.texts == [str(n) for n in range(1, 21)] for reader in readers)


async def test_a_reader_that_leaves_takes_nothing_from_the_others() -> None:
    store, answer_id = await started()
    leaving, staying = Reader(store, answer_id), Reader(store, answer_id)
    await store.append(answer_id, 1, ["a"])
    await asyncio.sleep(0.01)
    leaving.task.cancel()  # while it waits on the future both of them await
    await asyncio.sleep(0)
    await store.append(answer_id, 2, ["b"])
    await store.finish(answer_id, Outcome("done", "stop"))
    await staying.task
    assert staying.texts == ["a", "b"]
    assert leaving.texts == ["a"] and leaving.task.cancelled()


async def test_a_reader_of_an_ended_answer_gets_all_of_it_in_one_batch() -> None:
    store, answer_id = await started()
    await store.append(answer_id, 1, ["a"])
    await store.finish(answer_id, Outcome("error", None, "it broke"))
    reader = Reader(store, answer_id)
    await reader.task
    [batch] = reader.batches
    assert batch.pieces == (Delta(1, "a"), End(2, Outcome("error", None, "it broke")))
    assert batch.after(1).pieces == (End(2, Outcome("error", None, "it broke")),)
    assert batch.after(0) is batch


async def test_after_a_quiet_spell_readers_get_an_empty_batch() -> None:
    store, answer_id = await started(heartbeat=0.01)
    reader = Reader(store, answer_id)
    await asyncio.sleep(0.05)
    await store.finish(answer_id, Outcome("done", "stop"))
    await reader.task
    assert len(reader.batches) >= 2
    assert all(not batch.pieces for batch in reader.batches[:-1])  # heartbeats only
    assert reader.batches[-1].ended


async def test_a_reader_claiming_more_than_a_running_answer_has_is_refused() -> None:
    store, answer_id = await started()
    await store.append(answer_id, 1, ["a", "b"])
    with pytest.raises(ValueError, match="has 2 deltas, not 100"):
        await Reader(store, answer_id, 100).task
    following = Reader(store, answer_id)
    await store.finish(answer_id, Outcome("done", "stop"))
    await asyncio.wait_for(following.task, 5)
    assert following.texts == ["a", "b"]

"""A running answer's feed: the store watched once, each batch handed to every reader."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterable, Callable

import pytest

from sse_lab.answers import AnswerService, Limits
from sse_lab.config import Upstream
from sse_lab.feeds import READ_ERROR, Batch, Delta, End, Feed, Subscription
from sse_lab.stores.base import Outcome, Progress, Watcher
from sse_lab.stores.sqlite import SQLiteAnswerStore


async def started(idle: float = 10.0) -> tuple[SQLiteAnswerStore, str, Feed]:
    store = SQLiteAnswerStore()
    answer = await store.create("alice", "q")
    return store, answer.id, Feed(store, answer.id, 0, idle)


def subscribed(feed: Feed, after: int = 0) -> Subscription:
    subscription = Subscription(after)
    feed.subscribe(subscription)
    return subscription


async def read_all(batches: AsyncIterable[Batch]) -> list[Batch]:
    return [batch async for batch in batches]


def texts(batches: list[Batch]) -> list[str]:
    return [p.text for b in batches for p in b.pieces if isinstance(p, Delta)]


async def test_every_reader_gets_the_same_batches_and_then_the_end() -> None:
    store, answer_id, feed = await started()
    subscriptions = [subscribed(feed) for _ in range(3)]
    await store.append(answer_id, 1, ["Hel", "lo"])
    await asyncio.sleep(0)  # the commit, the loop's next callback, tells the feed itself
    assert len(subscriptions[0].waiting) == 1
    await store.append(answer_id, 3, ["!"])
    await store.finish(answer_id, Outcome("done", "stop"))
    readers = [await read_all(s) for s in subscriptions]

    first = readers[0]
    assert len(first) >= 2
    assert all(got == first for got in readers)  # the very same objects: encoded once
    assert texts(first) == ["Hel", "lo", "!"]
    assert first[-1].pieces[-1] == End(4, Outcome("done", "stop", None))
    assert feed.ended.done()  # the feed ends with its answer


async def test_a_reader_gets_only_what_it_lacks() -> None:
    store, answer_id, feed = await started()
    subscription = subscribed(feed, 2)  # it has 1 and 2 from the store already
    await store.append(answer_id, 1, ["a", "b", "c"])
    await store.finish(answer_id, Outcome("done", "stop"))
    assert texts(await read_all(subscription)) == ["c"]


async def test_a_reader_that_left_is_dropped_and_the_others_go_on() -> None:
    store, answer_id, feed = await started()
    left, stays = subscribed(feed), subscribed(feed)
    await store.append(answer_id, 1, ["a"])
    await asyncio.sleep(0)
    feed.unsubscribe(left)
    feed.unsubscribe(left)  # safe to repeat
    await store.append(answer_id, 2, ["b"])
    await store.finish(answer_id, Outcome("done", "stop"))
    assert texts(await read_all(stays)) == ["a", "b"]
    assert len(left.waiting) == 1  # "a" only: nothing was queued for it after it left


async def test_a_reader_that_joins_an_ended_feed_gets_its_end_at_once() -> None:
    store, answer_id, feed = await started()
    await store.append(answer_id, 1, ["a"])
    await store.finish(answer_id, Outcome("done", "stop"))
    await feed.ended
    late = subscribed(feed, 1)
    assert [b.pieces for b in await read_all(late)] == [(End(2, Outcome("done", "stop", None)),)]


async def test_after_a_quiet_spell_readers_get_an_empty_batch() -> None:
    store, answer_id, feed = await started(idle=0.01)
    subscription = subscribed(feed)
    await asyncio.sleep(0.05)
    await store.finish(answer_id, Outcome("done", "stop"))
    got = await read_all(subscription)
    assert len(got) >= 2 and all(not batch.pieces for batch in got[:-1])  # heartbeats only
    assert got[-1].ended
    await feed.ended


async def test_a_batch_of_the_store_ends_when_the_answer_has_ended() -> None:
    store, answer_id, feed = await started()
    await store.append(answer_id, 1, ["a"])
    await store.finish(answer_id, Outcome("error", None, "it broke"))
    batch = Batch.of(await store.read(answer_id, 0))
    assert batch.ended
    assert batch.pieces == (Delta(1, "a"), End(2, Outcome("error", None, "it broke")))
    assert batch.after(1).pieces == (End(2, Outcome("error", None, "it broke")),)
    assert batch.after(0) is batch
    await feed.ended


async def follow_all(
    service: AnswerService, answer_id: str, after: int = 0, progress: Progress | None = None
) -> list[Batch]:
    async with service.follow(answer_id, after, progress) as batches:
        return await read_all(batches)


async def test_a_reader_with_an_old_read_of_the_store_still_misses_nothing() -> None:
    # The route reads the store (for its 204 check) before the response's head is out;
    # the feed may have passed more on by the time the reader joins it.
    store = SQLiteAnswerStore()
    service = AnswerService(store, Upstream(base_url="http://127.0.0.1:9/v1"), Limits())
    answer_id = (await store.create("alice", "q")).id
    await store.append(answer_id, 1, ["a"])
    old = await store.read(answer_id, 0)
    reading = asyncio.create_task(follow_all(service, answer_id))
    await store.append(answer_id, 2, ["b"])
    await asyncio.sleep(0.01)

    joining = asyncio.create_task(follow_all(service, answer_id, 0, old))
    await asyncio.sleep(0)
    await store.append(answer_id, 3, ["c"])
    await store.finish(answer_id, Outcome("done", "stop"))
    first, late = await asyncio.gather(reading, joining)
    assert texts(late) == texts(first) == ["a", "b", "c"]
    await service.close()


class UnwatchableStore(SQLiteAnswerStore):
    """A store whose answers can be read but not watched, as a broken backend would be."""

    def watch(self, answer_id: str, after: int, watcher: Watcher) -> Callable[[], None]:
        raise sqlite3.OperationalError("disk I/O error")


async def test_readers_of_a_feed_that_cannot_watch_the_store_get_an_error_end() -> None:
    store = UnwatchableStore()
    service = AnswerService(store, Upstream(base_url="http://127.0.0.1:9/v1"), Limits())
    answer_id = (await store.create("alice", "q")).id
    await store.append(answer_id, 1, ["a"])
    for _ in range(2):  # the second reader too: the ended feed is not joined again
        got = await asyncio.wait_for(follow_all(service, answer_id), 5)
        assert texts(got) == ["a"]
        assert got[-1].pieces[-1] == End(2, Outcome("error", None, READ_ERROR), kept=False)
    await service.close()


async def test_a_reader_claiming_more_than_a_running_answer_has_starts_no_feed() -> None:
    store = SQLiteAnswerStore()
    service = AnswerService(store, Upstream(base_url="http://127.0.0.1:9/v1"), Limits())
    answer_id = (await store.create("alice", "q")).id
    await store.append(answer_id, 1, ["a", "b"])
    with pytest.raises(ValueError, match="has 2 deltas, not 100"):
        await follow_all(service, answer_id, 100)
    following = asyncio.create_task(follow_all(service, answer_id))
    await asyncio.sleep(0)
    await store.finish(answer_id, Outcome("done", "stop"))
    assert texts(await asyncio.wait_for(following, 5)) == ["a", "b"]
    await service.close()

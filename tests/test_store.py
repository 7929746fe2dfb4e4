"""The answer store's contract, on SQLite and on Redis alike; then what only SQLite does."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import until
from sse_lab.stores.redis import RedisAnswerStore
from sse_lab.stores.sqlite import (
    RESTART_ERROR,
    STORE_ERROR,
    AnswerStore,
    Progress,
    SQLiteAnswerStore,
    Watcher,
)


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
    assert await store.finish(answer.id, "done", "stop")

    progress = await store.read(answer.id, 0)
    assert progress.deltas == [(1, "Hi")]
    assert (progress.status, progress.finish_reason, progress.last_seq) == ("done", "stop", 1)
    for seen in (1, 2):  # a reader that has every delta, or the end too, still learns the end
        progress = await store.read(answer.id, seen)
        assert (progress.deltas, progress.status, progress.last_seq) == ([], "done", 1)


async def test_the_first_end_wins(store: AnswerStore) -> None:
    answer = await store.create("alice", "hi?")
    assert await store.finish(answer.id, "done", "stopped")
    assert not await store.finish(answer.id, "done", "stop")
    assert (await store.get(answer.id)).finish_reason == "stopped"  # type: ignore[union-attr]


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


async def test_deltas_appended_in_one_turn_are_committed_together_and_before_the_end(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "answers.db")
    store = SQLiteAnswerStore(path)
    first, second = await store.create("alice", "one"), await store.create("bob", "two")
    news: list[Progress] = []
    for answer in (first, second):
        store.watch(answer.id, 0, news.append)
    await store.append(first.id, 1, ["x"])
    await store.append(second.id, 1, ["x"])
    assert news == []  # appending does not wait: the commit is the loop's next callback
    await asyncio.sleep(0)
    assert [p.deltas for p in news] == [[(1, "x")], [(1, "x")]]
    # A delta appended just before the end is stored before it.
    await store.append(second.id, 2, ["y"])
    await store.finish(second.id, "done", "stop")
    await store.close()
    progress = await SQLiteAnswerStore(path).read(second.id, 0)
    assert (progress.deltas, progress.status) == ([(1, "x"), (2, "y")], "done")


async def test_a_delta_the_database_refused_makes_the_answer_an_error(tmp_path: Path) -> None:
    path = str(tmp_path / "answers.db")
    store = SQLiteAnswerStore(path)
    answer = await store.create("alice", "q")
    with sqlite3.connect(path) as other:  # makes the database refuse one delta, as a full disk
        other.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON deltas WHEN NEW.text = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    await store.append(answer.id, 1, ["fine"])
    await asyncio.sleep(0)  # committed
    await store.append(answer.id, 2, ["boom"])
    await asyncio.sleep(0)  # refused
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        await store.append(answer.id, 3, ["after it"])
    await store.finish(answer.id, "done", "stop")

    progress = await store.read(answer.id, 0)
    assert progress.deltas == [(1, "fine")]
    assert (progress.status, progress.error) == ("error", f"{STORE_ERROR}: disk full")


async def test_an_end_the_database_refused_still_ends_the_answer_for_its_readers(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "answers.db")
    store = SQLiteAnswerStore(path)
    answer = await store.create("alice", "q")
    news: list[Progress] = []
    store.watch(answer.id, 0, news.append)
    with sqlite3.connect(path) as other:  # makes the database refuse every end
        other.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON answers"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    assert await store.finish(answer.id, "done", "stop")
    ended = ("error", f"{STORE_ERROR}: disk full")
    assert [(p.status, p.error) for p in news] == [ended]
    # A reader that comes later gets that end too, and no second end wins.
    assert (
        (await store.read(answer.id, 0)).status,
        (await store.read(answer.id, 0)).error,
    ) == ended
    assert not await store.finish(answer.id, "done", "stopped")

    # Once the database takes writes again, the next commit stores the end.
    with sqlite3.connect(path) as other:
        other.execute("DROP TRIGGER refuse")
    later = await store.create("alice", "later")
    await store.append(later.id, 1, ["x"])
    await asyncio.sleep(0)  # the commit
    with sqlite3.connect(path) as other:
        row = other.execute("SELECT status, error FROM answers WHERE id = ?", (answer.id,))
        assert row.fetchone() == ended


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
    await store.finish(answer.id, "done", "stop")
    assert await until(lambda: news[-1].status != "running")
    assert told(news) == [(2, "b"), (3, "c")]
    assert all(p.status == "running" for p in news[:-1])  # the end is the last call
    assert (news[-1].status, news[-1].finish_reason, news[-1].last_seq) == ("done", "stop", 3)


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
    await store.finish(answer.id, "done", "stop")
    assert await until(lambda: len(heard) == 2)
    assert heard == ["first", "second"]


async def test_a_watcher_of_an_ended_answer_gets_all_of_it_at_once(store: AnswerStore) -> None:
    answer = await store.create("alice", "q")
    await store.append(answer.id, 1, ["a"])
    await store.finish(answer.id, "error", None, "it broke")
    news: list[Progress] = []
    unwatch = store.watch(answer.id, 0, news.append)
    assert await until(lambda: bool(news))
    unwatch()
    assert [(p.deltas, p.status, p.error) for p in news] == [([(1, "a")], "error", "it broke")]


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
    await store.finish(answer.id, "done", "stop")
    assert await until(lambda: bool(still) and still[-1].status == "done")
    assert told(still) == [(2, "b")]
    assert told(news) == [(1, "a")] and news[-1].status == "running"


async def test_reading_an_unknown_answer_is_a_key_error(store: AnswerStore) -> None:
    with pytest.raises(KeyError):
        await store.read("ans_nope", 0)


async def test_the_stored_answer_is_the_same_whichever_call_reads_it(store: AnswerStore) -> None:
    answer = await store.create("bob", "what?")
    await store.append(answer.id, 1, ["one ", "two"])
    await store.finish(answer.id, "done", "length")
    row = await store.get(answer.id)
    assert row is not None
    assert (row.owner, row.prompt, row.status, row.finish_reason) == (
        "bob",
        "what?",
        "done",
        "length",
    )
    assert row.created_at == pytest.approx(answer.created_at)
    progress = await store.read(answer.id, 0)
    assert (progress.deltas, progress.last_seq) == ([(1, "one "), (2, "two")], 2)


async def test_answers_survive_a_restart_and_a_cut_answer_says_why(tmp_path: Path) -> None:
    path = str(tmp_path / "answers.db")
    before = SQLiteAnswerStore(path)
    done = await before.create("alice", "finished")
    await before.append(done.id, 1, ["all"])
    await before.finish(done.id, "done", "stop")
    cut = await before.create("bob", "cut short")
    await before.append(cut.id, 1, ["half"])
    await before.close()

    after = SQLiteAnswerStore(path)
    assert (await after.read(done.id, 0)).status == "done"
    progress = await after.read(cut.id, 0)
    assert progress.deltas == [(1, "half")]
    assert (progress.status, progress.error) == ("error", RESTART_ERROR)
    assert (await after.get(cut.id)).owner == "bob"  # type: ignore[union-attr]

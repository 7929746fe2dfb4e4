"""What only the SQLite store does: commits per loop turn, a refusing database, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from conftest import Reader
from sse_lab.stores.base import STORE_ERROR, Delta, Outcome, StoreUnavailable, Usage
from sse_lab.stores.sqlite import RESTART_ERROR, SQLiteAnswerStore


async def test_deltas_appended_in_one_turn_are_committed_together_and_before_the_end(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "answers.db")
    store = SQLiteAnswerStore(path)
    first, second = await store.create("alice", "one"), await store.create("bob", "two")
    news = [tail.next for answer in (first, second) if (tail := store.tail(answer.id))]
    await store.append(first.id, 1, ["x"])
    await store.append(second.id, 1, ["x"])
    assert not any(next.done() for next in news)  # the commit is the loop's next callback
    await asyncio.sleep(0)
    published = [next.result().batch.pieces for next in news]
    assert published == [(Delta(1, "x"),), (Delta(1, "x"),)]
    # A delta appended just before the end is stored before it.
    await store.append(second.id, 2, ["y"])
    await store.finish(second.id, Outcome("done", "stop"))
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
    await store.finish(answer.id, Outcome("done", "stop"))

    progress = await store.read(answer.id, 0)
    assert progress.deltas == [(1, "fine")]
    assert (progress.status, progress.outcome.error) == ("error", f"{STORE_ERROR}: disk full")


async def test_an_end_the_database_refused_still_ends_the_answer_for_its_readers(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "answers.db")
    store = SQLiteAnswerStore(path)
    answer = await store.create("alice", "q")
    reader = Reader(store, answer.id)
    await asyncio.sleep(0)  # it has read the store and waits
    with sqlite3.connect(path) as other:  # makes the database refuse every end
        other.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON answers"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    assert await store.finish(answer.id, Outcome("done", "stop"))
    ended = ("error", f"{STORE_ERROR}: disk full")
    await reader.task
    assert reader.end is not None
    assert (reader.end.outcome.status, reader.end.outcome.error) == ended
    # A reader that comes later gets that end too, and no second end wins.
    assert (
        (await store.read(answer.id, 0)).status,
        (await store.read(answer.id, 0)).outcome.error,
    ) == ended
    assert not await store.finish(answer.id, Outcome("done", "stopped"))

    # Once the database takes writes again, the next commit stores the end.
    with sqlite3.connect(path) as other:
        other.execute("DROP TRIGGER refuse")
    later = await store.create("alice", "later")
    await store.append(later.id, 1, ["x"])
    await asyncio.sleep(0)  # the commit
    with sqlite3.connect(path) as other:
        row = other.execute("SELECT status, error FROM answers WHERE id = ?", (answer.id,))
        assert row.fetchone() == ended


async def test_answers_survive_a_restart_and_a_cut_answer_says_why(tmp_path: Path) -> None:
    path = str(tmp_path / "answers.db")
    before = SQLiteAnswerStore(path)
    done = await before.create("alice", "finished")
    await before.append(done.id, 1, ["all"])
    await before.finish(done.id, Outcome("done", "stop"))
    cut = await before.create("bob", "cut short")
    await before.append(cut.id, 1, ["half"])
    await before.close()

    after = SQLiteAnswerStore(path)
    assert (await after.read(done.id, 0)).status == "done"
    progress = await after.read(cut.id, 0)
    assert progress.deltas == [(1, "half")]
    assert (progress.status, progress.outcome.error) == ("error", RESTART_ERROR)
    assert (await after.get(cut.id)).owner == "bob"  # type: ignore[union-attr]


# The schema before answers kept the model's usage.
FIRST_SCHEMA = """
CREATE TABLE answers (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'running',
    finish_reason TEXT,
    error         TEXT,
    created_at    REAL NOT NULL
);
CREATE TABLE deltas (
    answer_id TEXT NOT NULL REFERENCES answers(id),
    seq       INTEGER NOT NULL,
    text      TEXT NOT NULL,
    PRIMARY KEY (answer_id, seq)
) WITHOUT ROWID;
INSERT INTO answers VALUES ('ans_old', 'alice', 'q', 'done', 'stop', NULL, 1.0);
INSERT INTO deltas VALUES ('ans_old', 1, 'kept');
"""


async def test_a_database_made_before_usage_was_kept_opens_and_keeps_usage_from_then_on(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "answers.db")
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.executescript(FIRST_SCHEMA)
    store = SQLiteAnswerStore(path)
    old_answer = await store.read("ans_old", 0)
    assert (old_answer.deltas, old_answer.outcome) == ([(1, "kept")], Outcome("done", "stop"))
    answer = await store.create("bob", "q")
    await store.finish(answer.id, Outcome("done", "stop", usage=Usage(1, 2, 3)))
    await store.close()

    reopened = SQLiteAnswerStore(path)  # its columns are there now: nothing to add twice
    assert (await reopened.read(answer.id, 0)).outcome.usage == Usage(1, 2, 3)
    assert (await reopened.get("ans_old")).outcome.usage is None  # type: ignore[union-attr]
    await reopened.close()


async def test_stopping_an_ended_answer_while_the_database_is_locked_is_a_503_not_an_end(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "answers.db")
    store = SQLiteAnswerStore(path)
    answer = await store.create("alice", "q")
    await store.finish(answer.id, Outcome("done", "stop"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.finish(answer.id, Outcome("done", "stopped"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    progress = await store.read(answer.id, 0)
    assert (progress.status, progress.outcome.finish_reason) == ("done", "stop")
    await store.close()

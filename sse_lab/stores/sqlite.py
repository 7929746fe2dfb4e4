"""Answers at rest in SQLite (one file, WAL): the embedded store, for one server process.

The seam it fits, and the checks before an append, are in `sse_lab.stores.base`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple, replace
from typing import Any

from sse_lab.stores.base import (
    RUNNING,
    STORE_ERROR,
    Answer,
    Batch,
    Delta,
    End,
    Outcome,
    Progress,
    StoreUnavailable,
    Tail,
    Usage,
    Writes,
    new_answer_id,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'running',
    finish_reason TEXT,
    error         TEXT,
    created_at    REAL NOT NULL,
    -- the model's usage, NULL if it reported none (ADDED_COLUMNS)
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    total_tokens      INTEGER
);
CREATE TABLE IF NOT EXISTS deltas (
    answer_id TEXT NOT NULL REFERENCES answers(id),
    seq       INTEGER NOT NULL,
    text      TEXT NOT NULL,
    PRIMARY KEY (answer_id, seq)
) WITHOUT ROWID;
"""

# Columns of `answers` added since its first version: a file made before gets them on opening.
ADDED_COLUMNS = ("prompt_tokens INTEGER", "completion_tokens INTEGER", "total_tokens INTEGER")
# An answer's outcome, as `_outcome` reads it.
OUTCOME_COLUMNS = "status, finish_reason, error, prompt_tokens, completion_tokens, total_tokens"

RESTART_ERROR = "the server restarted while this answer was being written"
# How long a statement waits for another process's lock on the database file. Statements
# run on the event loop's thread, so this is how long the whole server may stand still.
BUSY_TIMEOUT = 0.1


class SQLiteAnswerStore:
    """The embedded store: one SQLite file in WAL mode, readers woken in this process.

    Calls run on the event loop's thread: each is one short statement on a local file, and
    waits at most BUSY_TIMEOUT for another process's lock before it fails (StoreUnavailable,
    or for a commit, the error end of its answers), so a lock held elsewhere never stops
    the loop for long.

    Deltas are committed in groups: those appended in one turn of the event loop (from
    any number of answers) share one transaction, which runs as the loop's next callback;
    `append` does not wait for it. A delta is published to its answer's tail once it is
    committed, right in the commit, so a crash never shows a reader more than a restart
    replays; `read` and `finish` commit first. On opening, answers left 'running' by an
    earlier process are ended with an error, so their readers get what was stored and then
    learn why it stopped.
    """

    def __init__(self, path: str = ":memory:", heartbeat: float = 15.0) -> None:
        """`heartbeat`: seconds without news after which an answer's readers get an empty
        batch."""
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        _add_columns(self._db)
        self._db.execute(
            "UPDATE answers SET status = 'error', error = ? WHERE status = 'running'",
            (RESTART_ERROR,),
        )
        self._writes = Writes()
        self._tails: dict[str, Tail] = {}  # the answers written here, while they run
        self._heartbeat = heartbeat
        self._pending: list[tuple[str, int, str]] = []  # deltas for the next commit
        # Ends the database refused: readers get them from here, and each commit that
        # succeeds tries to store them again.
        self._unsaved: dict[str, Outcome] = {}
        self._ended: list[Callable[[str], None]] = []

    async def create(self, owner: str, prompt: str) -> Answer:
        answer = Answer(new_answer_id(), owner, prompt, RUNNING, time.time())
        with _unavailable():
            self._db.execute(
                "INSERT INTO answers (id, owner, prompt, created_at) VALUES (?, ?, ?, ?)",
                (answer.id, owner, prompt, answer.created_at),
            )
        self._writes.begin(answer.id)
        self._tails[answer.id] = Tail(self._heartbeat)
        return answer

    async def get(self, answer_id: str) -> Answer | None:
        with _unavailable():
            row = self._db.execute(
                f"SELECT owner, prompt, created_at, {OUTCOME_COLUMNS} FROM answers WHERE id = ?",
                (answer_id,),
            ).fetchone()
        if row is None:
            return None
        owner, prompt, created_at, *outcome = row
        answer = Answer(answer_id, owner, prompt, _outcome(outcome), created_at)
        if answer_id in self._unsaved:
            answer = replace(answer, outcome=self._unsaved[answer_id])
        return answer

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        self._writes.check(answer_id, seq, texts)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._commit)
        self._pending += [(answer_id, n, text) for n, text in enumerate(texts, seq)]

    def _commit(self) -> None:
        """Write the pending deltas in one transaction, then show them to readers."""
        pending, self._pending = self._pending, []
        if not pending:
            return  # committed early, by `read` or `finish`
        try:
            with self._db:  # BEGIN ... COMMIT, or ROLLBACK on an error
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO deltas (answer_id, seq, text) VALUES (?, ?, ?)", pending
                )
        except Exception as exc:  # whatever failed, no delta may vanish unsaid
            for answer_id, _, _ in pending:
                self._writes.refused(answer_id, exc)
            return
        self._store_unsaved_ends()
        news: dict[str, list[Delta]] = {}
        for answer_id, seq, text in pending:
            news.setdefault(answer_id, []).append(Delta(seq, text))
        for answer_id, deltas in news.items():
            self._tails[answer_id].publish(Batch(tuple(deltas)))

    async def finish(self, answer_id: str, outcome: Outcome) -> bool:
        self._commit()  # the deltas appended so far come before the end
        if answer_id in self._unsaved:
            return False
        outcome = self._writes.end(answer_id, outcome)
        tail = self._tails.pop(answer_id, None)  # running here, or ended (or unknown)
        try:
            ended = bool(self._end(answer_id, outcome))
        except sqlite3.Error as exc:
            if tail is None:  # nothing of ours to end: say that the database is away
                raise StoreUnavailable(f"the database is unavailable ({exc})") from exc
            # The answer ends all the same: readers get this end from memory, and the
            # database gets it once it takes writes again (or a restart marks it cut).
            outcome = self._unsaved[answer_id] = Outcome("error", None, f"{STORE_ERROR}: {exc}")
            ended = True
        if tail is not None:
            tail.publish(Batch((End(tail.seq + 1, outcome),)))
            for listener in self._ended:
                listener(answer_id)
        return ended

    def _end(self, answer_id: str, outcome: Outcome) -> int:
        """Store a running answer's end; how many rows changed (0: it had ended)."""
        usage = astuple(outcome.usage) if outcome.usage else (None, None, None)
        return self._db.execute(
            "UPDATE answers SET status = ?, finish_reason = ?, error = ?, prompt_tokens = ?,"
            " completion_tokens = ?, total_tokens = ? WHERE id = ? AND status = 'running'",
            (outcome.status, outcome.finish_reason, outcome.error, *usage, answer_id),
        ).rowcount

    def _store_unsaved_ends(self) -> None:
        """Try again to store the ends the database refused; keep those it still refuses."""
        for answer_id, outcome in list(self._unsaved.items()):
            try:
                self._end(answer_id, outcome)
            except sqlite3.Error:
                return
            del self._unsaved[answer_id]

    async def read(self, answer_id: str, after: int) -> Progress:
        self._commit()  # a reader sees what was appended before it asked
        with _unavailable():
            row = self._db.execute(
                f"SELECT (SELECT coalesce(max(seq), 0) FROM deltas WHERE answer_id = answers.id),"
                f" {OUTCOME_COLUMNS} FROM answers WHERE id = ?",
                (answer_id,),
            ).fetchone()
            if row is None:
                raise KeyError(answer_id)
            rows = self._db.execute(
                "SELECT seq, text FROM deltas WHERE answer_id = ? AND seq > ? ORDER BY seq",
                (answer_id, after),
            ).fetchall()
        last_seq, *outcome = row
        return Progress(rows, last_seq, self._unsaved.get(answer_id) or _outcome(outcome))

    def tail(self, answer_id: str) -> Tail | None:
        return self._tails.get(answer_id)

    def on_ended(self, listener: Callable[[str], None]) -> None:
        self._ended.append(listener)

    async def close(self) -> None:
        self._commit()
        self._store_unsaved_ends()
        self._tails.clear()
        self._db.close()


def _add_columns(db: sqlite3.Connection) -> None:
    """Give `answers` the ADDED_COLUMNS that a file made by an earlier version lacks."""
    have = {column[1] for column in db.execute("PRAGMA table_info(answers)")}
    for column in ADDED_COLUMNS:
        if column.split()[0] not in have:
            db.execute(f"ALTER TABLE answers ADD COLUMN {column}")


def _outcome(row: Sequence[Any]) -> Outcome:
    """An outcome from the OUTCOME_COLUMNS of a row."""
    status, finish_reason, error, *counts = row
    usage = Usage(*counts) if counts[0] is not None else None
    return Outcome(status, finish_reason, error, usage)


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """SQLite's errors of the moment (a lock held too long, a read-only or vanished file)
    as StoreUnavailable, which the routes answer with a 503."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"the database is unavailable ({exc})") from exc

"""Answers at rest: prompt, owner, deltas by sequence number and status, in SQLite.

`AnswerStore` is the seam between the routes and the storage. SQLite (one file, WAL) is
the embedded default; a store on Redis Streams (XADD per delta, XREAD BLOCK to wait) fits
the same five calls, so that several server processes can share answers.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Status = Literal["running", "done", "error"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'running',
    finish_reason TEXT,
    error         TEXT,
    created_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deltas (
    answer_id TEXT NOT NULL REFERENCES answers(id),
    seq       INTEGER NOT NULL,
    text      TEXT NOT NULL,
    PRIMARY KEY (answer_id, seq)
) WITHOUT ROWID;
"""

RESTART_ERROR = "the server restarted while this answer was being written"


def new_answer_id() -> str:
    """An unguessable answer id (128 random bits), recognisable by its prefix."""
    return f"ans_{secrets.token_urlsafe(16)}"


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer's row: who asked what, and how far it got."""

    id: str
    owner: str
    prompt: str
    status: Status
    finish_reason: str | None
    error: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Progress:
    """What a reader gets: the deltas after a sequence number, and the answer's status then."""

    deltas: list[tuple[int, str]]
    last_seq: int  # how many deltas the answer has in all, so far
    status: Status
    finish_reason: str | None
    error: str | None


class AnswerStore(Protocol):
    """The calls routes and generation make; a new backend implements just these."""

    async def create(self, owner: str, prompt: str) -> Answer:
        """Store a new running answer and return it with its fresh id."""
        ...

    async def get(self, answer_id: str) -> Answer | None:
        """The answer's row, or None for an unknown id."""
        ...

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        """Store deltas number `seq`, `seq` + 1, ... (from 1) of a running answer, and wake
        its readers. Several at once when they came together: one write for all."""
        ...

    async def finish(
        self, answer_id: str, status: Status, finish_reason: str | None, error: str | None = None
    ) -> bool:
        """End a running answer; False if it had already ended (the first end wins)."""
        ...

    async def read(self, answer_id: str, after: int) -> Progress:
        """The deltas with seq > `after`, in order, with the status at that moment."""
        ...

    async def wait(self, answer_id: str, after: int, timeout: float) -> bool:
        """Wait for a delta after `after` or the answer's end; False if `timeout` s passed first."""
        ...

    async def close(self) -> None:
        """Release connections; answers still running stay 'running' on disk."""
        ...


class _Live:
    """A running answer's deltas kept in memory, so tailing readers don't query SQLite.

    `texts` holds the committed deltas only; `appended` counts those still on their way too.
    """

    __slots__ = ("appended", "changed", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.appended = 0
        self.changed = asyncio.Event()

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class SQLiteAnswerStore:
    """The embedded store: one SQLite file in WAL mode, readers woken in this process.

    Calls run on the event loop's thread: each is one short statement on a local file.
    Deltas are committed in groups: those appended in one turn of the event loop (from
    any number of answers) share a transaction, a seventh of the cost of one each; readers
    see a delta only once it is committed, so a crash never shows a reader more than a
    restart replays. On opening, answers left 'running' by an earlier process are ended
    with an error, so their readers get what was stored and then learn why it stopped.
    """

    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "UPDATE answers SET status = 'error', error = ? WHERE status = 'running'",
            (RESTART_ERROR,),
        )
        self._live: dict[str, _Live] = {}
        self._pending: list[tuple[str, int, str]] = []  # deltas for the next commit
        self._committed: asyncio.Future[None] | None = None  # when they are in

    async def create(self, owner: str, prompt: str) -> Answer:
        answer = Answer(new_answer_id(), owner, prompt, "running", None, None, time.time())
        self._db.execute(
            "INSERT INTO answers (id, owner, prompt, created_at) VALUES (?, ?, ?, ?)",
            (answer.id, owner, prompt, answer.created_at),
        )
        self._live[answer.id] = _Live()
        return answer

    async def get(self, answer_id: str) -> Answer | None:
        row = self._db.execute(
            "SELECT id, owner, prompt, status, finish_reason, error, created_at"
            " FROM answers WHERE id = ?",
            (answer_id,),
        ).fetchone()
        return Answer(*row) if row else None

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        live = self._live[answer_id]
        if seq != live.appended + 1:
            raise ValueError(f"delta {seq} of {answer_id} is out of order")
        live.appended += len(texts)
        self._pending += [(answer_id, n, text) for n, text in enumerate(texts, seq)]
        if self._committed is None:
            loop = asyncio.get_running_loop()
            self._committed = loop.create_future()
            loop.call_soon(self._commit)
        # Shielded: an appender cancelled while waiting must not cancel the others' commit.
        await asyncio.shield(self._committed)

    def _commit(self) -> None:
        """Write the pending deltas in one transaction, then show them to readers."""
        pending, committed = self._pending, self._committed
        self._pending, self._committed = [], None
        if committed is None:
            return  # nothing appended since the last commit
        try:
            with self._db:  # BEGIN ... COMMIT, or ROLLBACK on an error
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO deltas (answer_id, seq, text) VALUES (?, ?, ?)", pending
                )
        except sqlite3.Error as exc:
            committed.set_exception(exc)
            return
        for answer_id, _, text in pending:
            self._live[answer_id].texts.append(text)
        for answer_id in {answer_id for answer_id, _, _ in pending}:
            self._live[answer_id].notify()
        committed.set_result(None)

    async def finish(
        self, answer_id: str, status: Status, finish_reason: str | None, error: str | None = None
    ) -> bool:
        self._commit()  # the deltas appended so far come before the end
        ended = self._db.execute(
            "UPDATE answers SET status = ?, finish_reason = ?, error = ?"
            " WHERE id = ? AND status = 'running'",
            (status, finish_reason, error, answer_id),
        ).rowcount
        live = self._live.pop(answer_id, None)
        if live:
            live.notify()
        return bool(ended)

    async def read(self, answer_id: str, after: int) -> Progress:
        live = self._live.get(answer_id)
        if live is not None:
            texts = live.texts[after:]
            deltas = list(enumerate(texts, after + 1))
            return Progress(deltas, len(live.texts), "running", None, None)
        answer = await self.get(answer_id)
        if answer is None:
            raise KeyError(answer_id)
        rows = self._db.execute(
            "SELECT seq, text FROM deltas WHERE answer_id = ? AND seq > ? ORDER BY seq",
            (answer_id, after),
        ).fetchall()
        (last_seq,) = self._db.execute(
            "SELECT count(*) FROM deltas WHERE answer_id = ?", (answer_id,)
        ).fetchone()
        return Progress(rows, last_seq, answer.status, answer.finish_reason, answer.error)

    async def wait(self, answer_id: str, after: int, timeout: float) -> bool:
        live = self._live.get(answer_id)
        if live is None or len(live.texts) > after:
            return True
        try:
            async with asyncio.timeout(timeout):
                await live.changed.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self._commit()
        self._live.clear()
        self._db.close()

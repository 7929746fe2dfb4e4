"""Answers at rest: prompt, owner, deltas by sequence number and status, in SQLite.

`AnswerStore` is the seam between the routes and the storage. SQLite (one file, WAL) is
the embedded default; `sse_lab.stores.redis.RedisAnswerStore` (Redis Streams) fits the same
calls, so that several server processes can share answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
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

# The largest sequence number a reader may claim to have seen: SQLite's largest INTEGER.
MAX_SEQ = 2**63 - 1
RESTART_ERROR = "the server restarted while this answer was being written"
STORE_ERROR = "the server could not store this answer"
# How long a statement waits for another process's lock on the database file. Statements
# run on the event loop's thread, so this is how long the whole server may stand still.
BUSY_TIMEOUT = 0.1


class StoreUnavailable(Exception):
    """The store cannot take this call now (a database locked, read-only or gone; Redis
    unreachable): a request that needs it fails with a 503; the rest keeps serving."""


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
    # False for an end told to readers that the store does not hold (it lost touch with
    # its database): sent without a seq, so a reader that reconnects gets what is stored.
    kept: bool = True

    def behind(self, after: int) -> bool:
        """Whether a reader claiming to have seen `after` deltas claims more than this
        running answer has: nothing can follow on from there."""
        return after > self.last_seq and self.status == "running"


Watcher = Callable[[Progress], None]


class AnswerStore(Protocol):
    """The calls routes and generation make; a new backend implements just these, and
    raises StoreUnavailable when its database cannot take a call for now."""

    async def create(self, owner: str, prompt: str) -> Answer:
        """Store a new running answer and return it with its fresh id."""
        ...

    async def get(self, answer_id: str) -> Answer | None:
        """The answer's row, or None for an unknown id."""
        ...

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        """Store deltas number `seq`, `seq` + 1, ... (from 1) of a running answer and tell
        its watchers, soon if not at once. Several at once when they came together: one
        write for all. If storing fails, the answer's next append raises and its end is
        an error, so no reader takes a gap for a whole answer."""
        ...

    async def finish(
        self, answer_id: str, status: Status, finish_reason: str | None, error: str | None = None
    ) -> bool:
        """End a running answer; False if it had already ended (the first end wins). An
        end the backend cannot store now still reaches the watchers and later readers, and
        is stored when it can be."""
        ...

    async def read(self, answer_id: str, after: int) -> Progress:
        """The deltas with seq > `after`, in order, with the status at that moment."""
        ...

    def watch(self, answer_id: str, after: int, watcher: Watcher) -> Callable[[], None]:
        """Call `watcher` with the answer's news after `after`, in order, as it is committed:
        what is stored already, then each commit's new deltas, then the end (the last call).
        SQLite tells what is stored before returning; a store whose reads are a network
        round trip tells it from its own task soon after, and an end not `kept` when it
        loses touch with its database. Returns a call to stop it.
        `watcher` runs inside the store's own code, so it must neither block nor raise."""
        ...

    def on_ended_elsewhere(self, listener: Callable[[str], None]) -> None:
        """Call `listener(answer_id)` when an answer this process generates is ended by
        another process sharing the store (a stop sent to another worker)."""
        ...

    async def close(self) -> None:
        """Release connections; answers still running stay 'running' on disk."""
        ...


class _Live:
    """A running answer's watchers, and how many of its deltas are committed (`committed`)
    and appended (`appended`: those still on their way to the database too)."""

    __slots__ = ("appended", "committed", "failure", "watchers")

    def __init__(self) -> None:
        self.committed = 0
        self.appended = 0
        self.watchers: list[Watcher] = []
        self.failure: Exception | None = None  # a commit of its deltas failed

    def tell(self, progress: Progress) -> None:
        for watcher in tuple(self.watchers):  # a watcher told of the end may unwatch
            watcher(progress)


class SQLiteAnswerStore:
    """The embedded store: one SQLite file in WAL mode, readers woken in this process.

    Calls run on the event loop's thread: each is one short statement on a local file, and
    waits at most BUSY_TIMEOUT for another process's lock before it fails (StoreUnavailable,
    or for a commit, the error end of its answers), so a lock held elsewhere never stops
    the loop for long.
    Deltas are committed in groups: those appended in one turn of the event loop (from
    any number of answers) share one transaction, which runs as the loop's next callback;
    `append` does not wait for it. Watchers are told of a delta once it is committed, right
    in the commit, so a crash never shows a reader more than a restart replays; `read` and
    `finish` commit first. On opening, answers left 'running' by an earlier process are
    ended with an error, so their readers get what was stored and then learn why it stopped.
    """

    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "UPDATE answers SET status = 'error', error = ? WHERE status = 'running'",
            (RESTART_ERROR,),
        )
        self._live: dict[str, _Live] = {}
        self._pending: list[tuple[str, int, str]] = []  # deltas for the next commit
        # Ends the database refused (status, finish_reason, error): readers get them from
        # here, and each commit that succeeds tries to store them again.
        self._unsaved: dict[str, tuple[Status, str | None, str | None]] = {}

    async def create(self, owner: str, prompt: str) -> Answer:
        answer = Answer(new_answer_id(), owner, prompt, "running", None, None, time.time())
        with _unavailable():
            self._db.execute(
                "INSERT INTO answers (id, owner, prompt, created_at) VALUES (?, ?, ?, ?)",
                (answer.id, owner, prompt, answer.created_at),
            )
        self._live[answer.id] = _Live()
        return answer

    async def get(self, answer_id: str) -> Answer | None:
        with _unavailable():
            row = self._db.execute(
                "SELECT id, owner, prompt, status, finish_reason, error, created_at"
                " FROM answers WHERE id = ?",
                (answer_id,),
            ).fetchone()
        if row is None:
            return None
        answer = Answer(*row)
        if answer.id in self._unsaved:
            status, finish_reason, error = self._unsaved[answer.id]
            answer = replace(answer, status=status, finish_reason=finish_reason, error=error)
        return answer

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        live = self._live[answer_id]
        if live.failure is not None:
            raise live.failure
        if seq != live.appended + 1:
            raise ValueError(f"delta {seq} of {answer_id} is out of order")
        for text in texts:
            # Refused here, not in the shared commit: a lone surrogate from a model's JSON
            # would fail there, for the other answers of the commit too.
            if not text.isascii():
                text.encode()
        live.appended += len(texts)
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
                self._live[answer_id].failure = exc
            return
        self._store_unsaved_ends()
        news: dict[str, list[tuple[int, str]]] = {}
        for answer_id, seq, text in pending:
            news.setdefault(answer_id, []).append((seq, text))
        for answer_id, deltas in news.items():
            live = self._live[answer_id]
            live.committed += len(deltas)
            live.tell(Progress(deltas, live.committed, "running", None, None))

    async def finish(
        self, answer_id: str, status: Status, finish_reason: str | None, error: str | None = None
    ) -> bool:
        self._commit()  # the deltas appended so far come before the end
        if answer_id in self._unsaved:
            return False
        live = self._live.get(answer_id)
        if live is not None and live.failure is not None:
            status, finish_reason, error = "error", None, f"{STORE_ERROR}: {live.failure}"
        try:
            ended = bool(self._end(answer_id, status, finish_reason, error))
        except sqlite3.Error as exc:
            # The answer ends all the same: readers get this end from memory, and the
            # database gets it once it takes writes again (or a restart marks it cut).
            status, finish_reason, error = "error", None, f"{STORE_ERROR}: {exc}"
            self._unsaved[answer_id] = (status, finish_reason, error)
            ended = True
        if live is not None:
            del self._live[answer_id]
            live.tell(Progress([], live.committed, status, finish_reason, error))
        return ended

    def _end(
        self, answer_id: str, status: Status, finish_reason: str | None, error: str | None
    ) -> int:
        """Store a running answer's end; how many rows changed (0: it had ended)."""
        return self._db.execute(
            "UPDATE answers SET status = ?, finish_reason = ?, error = ?"
            " WHERE id = ? AND status = 'running'",
            (status, finish_reason, error, answer_id),
        ).rowcount

    def _store_unsaved_ends(self) -> None:
        """Try again to store the ends the database refused; keep those it still refuses."""
        for answer_id, end in list(self._unsaved.items()):
            try:
                self._end(answer_id, *end)
            except sqlite3.Error:
                return
            del self._unsaved[answer_id]

    async def read(self, answer_id: str, after: int) -> Progress:
        return self._read(answer_id, after)

    def _read(self, answer_id: str, after: int) -> Progress:
        self._commit()  # a reader sees what was appended before it asked
        live = self._live.get(answer_id)
        with _unavailable():
            if live is None:
                row = self._db.execute(
                    "SELECT status, finish_reason, error FROM answers WHERE id = ?", (answer_id,)
                ).fetchone()
                if row is None:
                    raise KeyError(answer_id)
            rows = self._db.execute(
                "SELECT seq, text FROM deltas WHERE answer_id = ? AND seq > ? ORDER BY seq",
                (answer_id, after),
            ).fetchall()
            if live is not None:
                return Progress(rows, live.committed, "running", None, None)
            (last_seq,) = self._db.execute(
                "SELECT count(*) FROM deltas WHERE answer_id = ?", (answer_id,)
            ).fetchone()
        return Progress(rows, last_seq, *self._unsaved.get(answer_id, row))

    def watch(self, answer_id: str, after: int, watcher: Watcher) -> Callable[[], None]:
        stored = self._read(answer_id, after)
        live = self._live.get(answer_id)
        if stored.deltas or live is None:
            watcher(stored)
        if live is None:
            return lambda: None
        live.watchers.append(watcher)

        def unwatch() -> None:
            if watcher in live.watchers:
                live.watchers.remove(watcher)

        return unwatch

    def on_ended_elsewhere(self, listener: Callable[[str], None]) -> None:
        pass  # one process per SQLite file: every end is this process's own

    async def close(self) -> None:
        self._commit()
        self._store_unsaved_ends()
        self._live.clear()
        self._db.close()


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """SQLite's errors of the moment (a lock held too long, a read-only or vanished file)
    as StoreUnavailable, which the routes answer with a 503."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"the database is unavailable ({exc})") from exc

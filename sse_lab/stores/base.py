"""The seam between the routes and the answer stores: its types, its protocol, and the checks
both stores make before an append.

An answer is created (owner, prompt), gets deltas 1, 2, ... appended, and is finished once
(the first end wins). Readers `read` what comes after the n deltas they have, with how the
answer stands, or `watch` for it. `sqlite.SQLiteAnswerStore` is the embedded default;
`redis.RedisAnswerStore` (Redis Streams) lets several server processes share answers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Status = Literal["running", "done", "error"]

# The largest sequence number a reader may claim to have seen: SQLite's largest INTEGER.
MAX_SEQ = 2**63 - 1
STORE_ERROR = "the server could not store this answer"


class StoreUnavailable(Exception):
    """The store cannot take this call now (a database locked, read-only or gone; Redis
    unreachable): a request that needs it fails with a 503; the rest keeps serving."""


class AnswerEnded(ValueError):
    """An append to an answer this process does not write (any more): it has ended, by its
    writer, a stop or another process, or it is unknown here."""


def new_answer_id() -> str:
    """An unguessable answer id (128 random bits), recognisable by its prefix."""
    return f"ans_{secrets.token_urlsafe(16)}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an answer stands: 'running', or how it ended (a finish reason, or an error)."""

    status: Status
    finish_reason: str | None = None
    error: str | None = None


RUNNING = Outcome("running")


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer's row: who asked what, and how far it got."""

    id: str
    owner: str
    prompt: str
    outcome: Outcome
    created_at: float

    @property
    def status(self) -> Status:
        """Short for `outcome.status`."""
        return self.outcome.status


@dataclass(frozen=True, slots=True)
class Progress:
    """What a reader gets: the deltas after a sequence number, and the answer's outcome then."""

    deltas: list[tuple[int, str]]
    last_seq: int  # how many deltas the answer has in all, so far
    outcome: Outcome = RUNNING
    # False for an end told to readers that the store does not hold (it lost touch with
    # its database): sent without a seq, so a reader that reconnects gets what is stored.
    kept: bool = True

    @property
    def status(self) -> Status:
        """Short for `outcome.status`."""
        return self.outcome.status

    def behind(self, after: int) -> bool:
        """Whether a reader claiming to have seen `after` deltas claims more than this
        running answer has: nothing can follow on from there."""
        return after > self.last_seq and self.status == "running"


Watcher = Callable[[Progress], None]


class AnswerStore(Protocol):
    """The calls routes and generation make; a new backend implements just these, raises
    StoreUnavailable when its database cannot take a call for now, and checks its appends
    with `Writes`."""

    async def create(self, owner: str, prompt: str) -> Answer:
        """Store a new running answer, written by this process, and return it with its id."""
        ...

    async def get(self, answer_id: str) -> Answer | None:
        """The answer's row, or None for an unknown id."""
        ...

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        """Store deltas number `seq`, `seq` + 1, ... (from 1) of an answer this process writes,
        and tell its watchers soon. Those appended in one turn of the event loop, from any
        answers, are written together, after this returns. Raises as `Writes.check` does; if
        storing fails, the answer's next append raises and its end is an error, so no reader
        takes a gap for a whole answer."""
        ...

    async def finish(self, answer_id: str, outcome: Outcome) -> bool:
        """End a running answer; False if it had already ended (the first end wins). An
        end the backend cannot store now still reaches the watchers and later readers, and
        is stored when it can be."""
        ...

    async def read(self, answer_id: str, after: int) -> Progress:
        """The deltas with seq > `after`, in order, with the outcome at that moment;
        KeyError for an unknown answer."""
        ...

    def watch(self, answer_id: str, after: int, watcher: Watcher) -> Callable[[], None]:
        """Call `watcher` with the answer's news after `after`, in order, as it is stored:
        what is stored already, then each write's new deltas, then the end (the last call).
        On every store, nothing is told before `watch` returns: what is stored comes from
        the store's own callback or task soon after, then the rest as it comes; an end not
        `kept` if the store loses touch with its database. Returns a call to stop it.
        `watcher` runs inside the store's own code, so it must neither block nor raise."""
        ...

    def on_ended(self, listener: Callable[[str], None]) -> None:
        """Call `listener(answer_id)` once an answer this process writes has ended, whoever
        ended it: its writer, a stop from this process or (a shared store) another."""
        ...

    async def close(self) -> None:
        """Release connections; answers still running stay 'running' in the database."""
        ...


class Writes:
    """The answers this process writes: how many deltas each has been given, the checks
    before an append, and the write failure that makes an answer's end an error."""

    def __init__(self) -> None:
        self._appended: dict[str, int] = {}
        self._failed: dict[str, Exception] = {}

    def begin(self, answer_id: str) -> None:
        """A new answer, written here from delta 1."""
        self._appended[answer_id] = 0

    def __contains__(self, answer_id: object) -> bool:
        return answer_id in self._appended

    def ids(self) -> list[str]:
        """The answers written here, oldest first."""
        return list(self._appended)

    def check(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        """Take deltas `seq`... of the answer, or raise: the failure of an earlier write of
        it, AnswerEnded, ValueError for a seq that is not the next, UnicodeEncodeError for
        a lone surrogate (refused here: in a shared write it would fail other answers)."""
        failure = self._failed.get(answer_id)
        if failure is not None:
            raise failure
        appended = self._appended.get(answer_id)
        if appended is None:
            raise AnswerEnded(f"{answer_id} has ended, or another process writes it")
        if seq != appended + 1:
            raise ValueError(f"delta {seq} of {answer_id} is out of order")
        for text in texts:
            if not text.isascii():
                text.encode()
        self._appended[answer_id] = appended + len(texts)

    def refused(self, answer_id: str, failure: Exception) -> None:
        """A write of the answer failed (the first failure says why): its next appends raise
        it, and its end is an error, so that no reader takes a gap for a whole answer."""
        if answer_id in self._appended:
            self._failed.setdefault(answer_id, failure)

    def failed(self, answer_id: str) -> bool:
        """Whether a write of the answer failed: its later deltas are not to be written."""
        return answer_id in self._failed

    def end(self, answer_id: str, outcome: Outcome) -> Outcome:
        """Stop taking the answer's appends; the outcome to store: `outcome`, or an error if
        a write of it failed."""
        self._appended.pop(answer_id, None)
        failure = self._failed.pop(answer_id, None)
        if failure is None or isinstance(failure, AnswerEnded):
            return outcome
        return Outcome("error", None, f"{STORE_ERROR}: {failure}")

"""The seam between the routes and the answer stores: the types an answer is told in, the
tail that all of an answer's readers in a process share, and what every store does alike.

An answer is created (owner, prompt), gets deltas 1, 2, ... appended, and is finished once
(the first end wins). A reader `follow`s it: what is stored after the n deltas it has, then
each batch as the store publishes it to the answer's `Tail`. `sqlite.SQLiteAnswerStore` is
the embedded default; `redis.RedisAnswerStore` (Redis Streams) lets several server
processes share answers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

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


USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass(frozen=True, slots=True)
class Usage:
    """The tokens an answer cost, as the model counted them (OpenAI's `usage` object)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, fields: Mapping[str, Any] | None) -> Usage | None:
        """The three counts among `fields` (a model's `usage` object, whose other fields are
        left out, or a stored row, whose numbers may be strings); None if one is missing."""
        if fields is None or any(fields.get(name) is None for name in USAGE_FIELDS):
            return None
        return cls(*(int(fields[name]) for name in USAGE_FIELDS))


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an answer stands: 'running', or how it ended (a finish reason, or an error), with
    the model's `usage` if it reported one."""

    status: Status
    finish_reason: str | None = None
    error: str | None = None
    usage: Usage | None = None


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
    """What a read gives: the deltas after a sequence number, and the answer's outcome then."""

    deltas: list[tuple[int, str]]
    last_seq: int  # how many deltas the answer has in all, so far
    outcome: Outcome = RUNNING
    # False for an end told to readers that the store does not hold (the Redis store, when
    # it lost touch with Redis): sent without a seq, so a reader that reconnects gets what
    # is stored.
    kept: bool = True

    @property
    def status(self) -> Status:
        """Short for `outcome.status`."""
        return self.outcome.status

    def reader_ahead(self, after: int) -> bool:
        """Whether a reader claiming to have seen `after` deltas claims more than this
        running answer has: nothing can follow on from there."""
        return after > self.last_seq and self.status == "running"


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the answer, numbered from 1."""

    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class End:
    """How an answer ended. Its `seq` follows the last delta's, so a reader that saw the end
    can say so on resume; an end the store does not hold (`kept` False) is sent without it."""

    seq: int
    outcome: Outcome
    kept: bool = True


class Batch:
    """Pieces that came together, in order, the End last; none for a heartbeat (nothing new
    for a while). `last`: the seq of its last piece (0 for a heartbeat); `ended`: whether
    that piece is the End. `wire`: its bytes as sent, made by the first reader that sends
    it, so that one answer's readers share one encoding (see `server.streams.batch_bytes`)."""

    __slots__ = ("ended", "last", "pieces", "wire")

    def __init__(self, pieces: tuple[Delta | End, ...] = ()) -> None:
        self.pieces = pieces
        self.last = pieces[-1].seq if pieces else 0
        self.ended = bool(pieces) and isinstance(pieces[-1], End)
        self.wire: bytes | None = None

    @classmethod
    def of(cls, progress: Progress) -> Batch:
        """A read as a batch: its deltas, and the End if the answer has ended."""
        pieces: list[Delta | End] = [Delta(seq, text) for seq, text in progress.deltas]
        if progress.status != "running":
            pieces.append(End(progress.last_seq + 1, progress.outcome, progress.kept))
        return cls(tuple(pieces))

    def after(self, seq: int) -> Batch:
        """This batch without the pieces up to `seq` (itself when it has none of them)."""
        if not self.pieces or self.pieces[0].seq > seq:
            return self
        return Batch(tuple(piece for piece in self.pieces if piece.seq > seq))


class News(NamedTuple):
    """One batch published to a tail, and the future that the next one will resolve."""

    batch: Batch
    next: asyncio.Future[News]


class Tail:
    """A running answer's news in this process, shared by all of its readers here.

    Each batch the store publishes resolves `next`, the one future every waiting reader
    awaits, with the batch and a new `next`: a chain that readers walk, however many they
    are, at the cost of one future per batch. After `idle` s without news it publishes an
    empty batch, a heartbeat; the End is its last batch. `seq`: the last piece published.
    """

    def __init__(self, idle: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.seq = 0
        self.ended = False
        self.next: asyncio.Future[News] = self._loop.create_future()
        self._idle = idle
        self._news_at = self._loop.time()
        self._beat = self._loop.call_at(self._news_at + idle, self._heartbeat)

    def publish(self, batch: Batch) -> None:
        """Give `batch` to every reader of the answer here (after the End: nothing)."""
        if self.ended:
            return
        news = News(batch, self._loop.create_future())
        self.next.set_result(news)
        self.next = news.next
        self._news_at = self._loop.time()
        self.seq = batch.last or self.seq
        if batch.ended:
            self.ended = True
            self._beat.cancel()

    def _heartbeat(self) -> None:
        """Publish an empty batch if nothing came for `idle` s: one timer per answer, moved
        on when it fires, not once per batch."""
        due = self._news_at + self._idle
        if due <= self._loop.time():
            self.publish(Batch())
            due = self._news_at + self._idle
        self._beat = self._loop.call_at(due, self._heartbeat)


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
        and publish them to its tail soon: written after this returns, in groups (SQLite:
        those of one turn of the event loop, from any answers; Redis: those of the answer
        since its last write). Raises as `Writes.check` does; if storing fails, the answer's
        next append raises and its end is an error, so no reader takes a gap for a whole
        answer."""
        ...

    async def finish(self, answer_id: str, outcome: Outcome) -> bool:
        """End a running answer; False if it had already ended (the first end wins). An end
        the backend cannot store now still reaches the readers, and is stored when it can be."""
        ...

    async def read(self, answer_id: str, after: int) -> Progress:
        """The deltas with seq > `after`, in order, with the outcome at that moment;
        KeyError for an unknown answer."""
        ...

    def tail(self, answer_id: str) -> Tail | None:
        """The answer's tail in this process, to which the store publishes what it stores
        of it, the End last; None once the answer has ended (a read then has it all)."""
        ...

    def on_ended(self, listener: Callable[[str], None]) -> None:
        """Call `listener(answer_id)` once an answer this process writes has ended, whoever
        ended it: its writer, a stop from this process or (a shared store) another."""
        ...

    async def close(self) -> None:
        """Release connections; answers still running stay 'running' in the database."""
        ...


async def follow(store: AnswerStore, answer_id: str, after: int) -> AsyncIterator[Batch]:
    """The answer's pieces after `after`, in batches, the End last: what is stored, then each
    batch as the store publishes it to the answer's tail here (an empty one is a heartbeat).
    ValueError if `after` is beyond what a running answer has."""
    tail = store.tail(answer_id)  # joined before the read: nothing falls between the two
    waiting = tail.next if tail is not None else None
    progress = await store.read(answer_id, after)
    if progress.reader_ahead(after):
        raise ValueError(f"{answer_id} has {progress.last_seq} deltas, not {after}")
    batch = Batch.of(progress)
    if batch.pieces:
        yield batch
    seq = batch.last or after
    while waiting is not None and not batch.ended:
        # Shielded: a reader that leaves must not cancel the future the others await.
        news = await asyncio.shield(waiting)
        batch, waiting = news.batch.after(seq), news.next
        if batch.pieces or not news.batch.pieces:  # skip what the read gave; heartbeats pass
            seq = batch.last or seq
            yield batch


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
            if not text.isascii():  # ASCII holds no surrogate: only the rest is checked
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

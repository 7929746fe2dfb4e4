"""Following a running answer: its pieces in batches that all its readers in this process share.

The store is watched once per running answer, not once per reader: each commit's news
becomes one `Batch`, queued for every subscribed reader there and then, so that the
readers of one answer share one watch of the store and the very same batches.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sse_lab.stores.base import AnswerStore, Outcome, Progress

log = logging.getLogger("sse_lab.feeds")
READ_ERROR = "the server could not read this answer"


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the answer, numbered from 1."""

    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class End:
    """How an answer ended: `done` with a finish reason, or `error` with a message.

    Its `seq` follows the last delta's, so a reader that saw the end can say so on resume;
    an end the store does not hold (`kept` False) is sent without it.
    """

    seq: int
    outcome: Outcome
    kept: bool = True


Piece = Delta | End


class Batch:
    """Pieces that came together, in order, the End last; none for a heartbeat (nothing new
    for a while). `wire`: its bytes as sent, made by the first reader that sends it, so
    that one answer's readers share one encoding (see `server.streams.batch_bytes`)."""

    __slots__ = ("ended", "first", "last", "pieces", "wire")

    def __init__(self, pieces: tuple[Piece, ...] = ()) -> None:
        self.pieces = pieces
        self.wire: bytes | None = None
        # Worked out once here, not once per reader that is given the batch.
        self.first = pieces[0].seq if pieces else 0
        self.last = pieces[-1].seq if pieces else 0
        self.ended = bool(pieces) and isinstance(pieces[-1], End)  # the answer ends with it

    @classmethod
    def of(cls, progress: Progress) -> Batch:
        """The store's deltas as a batch, ended if the answer has ended."""
        pieces: list[Piece] = [Delta(seq, text) for seq, text in progress.deltas]
        if progress.status != "running":
            seq = progress.last_seq + 1
            pieces.append(End(seq, progress.outcome, progress.kept))
        return cls(tuple(pieces))

    def after(self, seq: int) -> Batch:
        """This batch without the pieces up to `seq` (itself when it has none of them)."""
        if not self.pieces or self.first > seq:
            return self
        return Batch(tuple(piece for piece in self.pieces if piece.seq > seq))


class Subscription:
    """A reader of a feed: what it has (`seq`), and the batches waiting for it, which
    `async for` takes in order until the End."""

    __slots__ = ("_waiter", "seq", "waiting")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.waiting: collections.deque[Batch] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None  # the reader's, while none waits

    def give(self, batch: Batch) -> bool:
        """Queue what this reader lacks of the batch; False once it has the End."""
        if batch.pieces:
            if batch.first <= self.seq:  # only just after joining: it read some from the store
                batch = batch.after(self.seq)
                if not batch.pieces:
                    return True
            self.seq = batch.last
        self.waiting.append(batch)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        return not batch.ended

    async def __aiter__(self) -> AsyncIterator[Batch]:
        while True:
            while not self.waiting:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
            batch = self.waiting.popleft()
            yield batch
            if batch.ended:
                return


class Feed:
    """One running answer's batches, from the store, for every reader in this process.

    `seq` is the last sequence number of the store's that it has passed on: a reader that
    has everything up to `seq` and subscribes misses nothing. Batches are queued for the
    subscriptions as each comes (inside the store's commit). After `idle` s without news,
    readers get an empty batch. `ended` is done once the End is queued; a reader that
    subscribes later gets that End at once (after a failure, the feed's own error End).
    """

    def __init__(self, store: AnswerStore, answer_id: str, after: int, idle: float) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self.seq = after
        self.ended: asyncio.Future[None] = loop.create_future()
        self._answer_id = answer_id
        self._idle = idle
        self._subscriptions: list[Subscription] = []
        self._end: Batch | None = None
        self._news_at = loop.time()
        self._heartbeat = loop.call_at(self._news_at + idle, self._beat)
        self._unwatch: Callable[[], None] = lambda: None  # the store drops it after the end
        try:
            self._unwatch = store.watch(answer_id, after, self._tell)
        except Exception:
            self._failed()

    def subscribe(self, subscription: Subscription) -> None:
        """Give the subscription every batch from now on (the End at once if it came)."""
        if self._end is None:
            self._subscriptions.append(subscription)
        else:
            subscription.give(self._end)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop giving batches to this subscription (its reader left); safe to repeat."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def _tell(self, progress: Progress) -> None:
        try:
            batch = Batch.of(progress)
            self._news_at = self._loop.time()
            if batch.pieces:
                self.seq = batch.last
            self._publish(batch)
        except Exception:  # readers must not wait for ever, whatever broke
            self._failed()
            return
        if batch.ended:
            self._ended_with(batch)

    def _beat(self) -> None:
        """Heartbeat if nothing came for `idle` s; one timer per feed, not one per batch."""
        due = self._news_at + self._idle
        if due <= self._loop.time():
            self._publish(Batch())  # readers tell their clients they live
            due = self._loop.time() + self._idle
        self._heartbeat = self._loop.call_at(due, self._beat)

    def _failed(self) -> None:
        log.exception("following answer %s failed", self._answer_id)
        end = Batch((End(self.seq + 1, Outcome("error", None, READ_ERROR), kept=False),))
        self._publish(end)
        self._ended_with(end)

    def _ended_with(self, end: Batch) -> None:
        self._end = end
        self._subscriptions = []
        self._heartbeat.cancel()
        self._unwatch()
        self.ended.set_result(None)

    def _publish(self, batch: Batch) -> None:
        self._subscriptions = [s for s in self._subscriptions if s.give(batch)]

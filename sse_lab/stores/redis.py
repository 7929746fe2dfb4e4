"""Answers in Redis, shared by every server process that uses the same Redis (`--store redis://`).

Each answer is a hash (`sse_lab:answer:{ID}`: owner, prompt, status, finish reason, error),
a stream of its deltas (`sse_lab:answer:{ID}:deltas`) and the lease of the process writing it
(`sse_lab:answer:{ID}:lease`); the `{ID}` hash tag puts all three in one slot of a Redis
Cluster, so one script may touch them together. Delta number n is the stream entry `0-n`, so a
reader's seq is the entry id, `XRANGE (0-after +` replays what it lacks and XADD refuses a
delta stored twice. The end is written once, by a script that checks the hash is still
running (the first end wins, whichever process ends it), and also goes into the stream as
one last entry (`XADD ... 0-*`: Redis 7.0 or later, checked at connect), so tailers on every
process hear it like a delta.

Appends do not wait for Redis: those of one turn of the event loop, from every answer this
process generates, go in one pipeline (as SQLite groups them in one commit); `read` and
`finish` wait for them first. Per process, one task tails every watched answer with one
`XREAD BLOCK` over all their streams; a new watcher interrupts that block (CLIENT UNBLOCK)
so its stream is read at once.

Across processes:
- stop: the end script publishes `{"id": ID, "stored": true}` on ENDED_CHANNEL; the process
  generating it cancels its generation (and its next append would be refused anyway: the
  hash is no longer running).
- a process killed mid-answer: its answers each hold a lease key whose value is the process's
  random token, which only it renews (compare and set, in a script) and releases; a process
  with readers of an answer whose lease lapsed, or a `read` of it, ends it with an `error`
  after its stored deltas. With the defaults (3 s lease, checked each second) that is at
  most about 4 s after the death.
- Redis gone or stalled (no reply within `timeout`, 2 s): readers of this process get an
  `error` end at once that the store does not hold (`Progress.kept` False: it has no seq,
  so a reader that reconnects gets the rest); appends and ends raise `StoreUnavailable`
  (POST /new answers 503). An end Redis refused is kept here and stored once it can be.
- No gaps: after a refused append, nothing later of that answer is sent, and the append
  script stores only the next delta, so a stored answer is always deltas 1..n.

Retention: hash and stream expire `retention` s (default 7 days) after the answer's start,
renewed at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sse_lab.burst_log import BurstLog
from sse_lab.config import redacted
from sse_lab.stores.base import (
    RUNNING,
    Answer,
    AnswerEnded,
    Batch,
    Outcome,
    Progress,
    StoreUnavailable,
    Tail,
    Writes,
    new_answer_id,
)

log = logging.getLogger("sse_lab.stores.redis")
T = TypeVar("T")
Watcher = Callable[[Progress], None]  # told an answer's news by the tailing loop

RETENTION = 7 * 24 * 3600.0  # seconds an answer is kept
CONNECTIONS = 128  # per process, besides the tailing loop's
POOL_WAIT = 30.0  # seconds a command may wait for a free connection in a burst
LEASE = 3.0  # seconds a generating process's claim on its answer lasts unless refreshed
# Seconds a command may take before Redis counts as away: a POST /new during a stall gets
# its 503 within about this long, not after a client has given up.
TIMEOUT = 2.0
WORKER_LOST = "the server process writing this answer stopped"
STORE_LOST = "the server cannot use the answer store right now; reconnect to resume"
EXPIRED = "this answer has expired"
# JSON messages {"id": answer id, "stored": false for an end Redis refused to store yet}.
ENDED_CHANNEL = "sse_lab:ended"

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)

# Append deltas `seq`, `seq` + 1, ... Refused (0) once the answer ended, and (-1) if a delta
# before `seq` is missing: a stored answer never has a gap. Deltas the stream has already are
# skipped: a retried append (its reply lost on a broken connection, after Redis had run it)
# stores nothing twice and is no error.
_APPEND = """
local answer, deltas = KEYS[1], KEYS[2]
local seq, retention_ms = tonumber(ARGV[1]), ARGV[2]  -- ARGV[3], ... are the texts
if redis.call('HGET', answer, 'status') ~= 'running' then return 0 end
local stored = redis.call('XLEN', deltas)
if seq > stored + 1 then return -1 end
for i = 3, #ARGV do
  local n = seq + i - 3
  if n > stored then redis.call('XADD', deltas, '0-' .. n, 't', ARGV[i]) end
end
if seq == 1 then redis.call('PEXPIRE', deltas, retention_ms) end
return 1
"""

# End a running answer: 1 if this call ended it, 0 if it had ended (or, with `if_lapsed`
# '1', if its lease is still held). The end goes into the hash and, as one last entry, into
# the stream; the lease is released if `token` holds it; ENDED_CHANNEL hears `message`.
_FINISH = """
local answer, deltas, lease = KEYS[1], KEYS[2], KEYS[3]
local status, finish_reason, error = ARGV[1], ARGV[2], ARGV[3]
local retention_ms, if_lapsed, token = ARGV[4], ARGV[5], ARGV[6]
local channel, message = ARGV[7], ARGV[8]
if redis.call('HGET', answer, 'status') ~= 'running' then return 0 end
if if_lapsed == '1' and redis.call('EXISTS', lease) == 1 then return 0 end
local entry = {'end', status}
redis.call('HSET', answer, 'status', status)
if finish_reason ~= '' then
  redis.call('HSET', answer, 'finish_reason', finish_reason)
  table.insert(entry, 'finish_reason'); table.insert(entry, finish_reason)
end
if error ~= '' then
  redis.call('HSET', answer, 'error', error)
  table.insert(entry, 'error'); table.insert(entry, error)
end
redis.call('XADD', deltas, '0-*', unpack(entry))
redis.call('PEXPIRE', answer, retention_ms)
redis.call('PEXPIRE', deltas, retention_ms)
if redis.call('GET', lease) == token then redis.call('DEL', lease) end
redis.call('PUBLISH', channel, message)
return 1
"""

# Renew a lease for `ms` milliseconds if `token` holds it: 1, else 0 (it lapsed, and the
# answer may have been ended as its writer's death).
_RENEW = """
local lease = KEYS[1]
local token, ms = ARGV[1], ARGV[2]
if redis.call('GET', lease) ~= token then return 0 end
return redis.call('PEXPIRE', lease, ms)
"""


def _keys(answer_id: str) -> list[str]:
    """The answer's hash, its stream of deltas, and the lease of the process writing it: one
    hash tag, so one slot of a Redis Cluster."""
    answer = f"sse_lab:answer:{{{answer_id}}}"
    return [answer, f"{answer}:deltas", f"{answer}:lease"]


def _ended_message(answer_id: str, stored: bool) -> str:
    return json.dumps({"id": answer_id, "stored": stored})


def _seq(entry_id: str) -> int:
    return int(entry_id.partition("-")[2])


def _progress(entries: list[tuple[str, dict[str, str]]], last_seq: int) -> Progress:
    """Stream entries as Progress: the deltas, and the end if the last entry is one (its
    own entry id, one past the last delta's, is what readers get as the end's seq)."""
    deltas = [(_seq(entry_id), fields["t"]) for entry_id, fields in entries if "t" in fields]
    if deltas:
        last_seq = max(last_seq, deltas[-1][0])
    if entries and "end" in (end := entries[-1][1]):
        outcome = Outcome(end["end"], end.get("finish_reason"), end.get("error"))  # type: ignore[arg-type]
        return Progress(deltas, _seq(entries[-1][0]) - 1, outcome)
    return Progress(deltas, last_seq)


class _Watching:
    """One watcher and how far it has been told."""

    __slots__ = ("seq", "watcher")

    def __init__(self, seq: int, watcher: Watcher) -> None:
        self.seq = seq
        self.watcher = watcher


class RedisAnswerStore:
    """The shared store: see the module's docstring. Open it with `connect`."""

    def __init__(
        self,
        url: str,
        *,
        retention: float = RETENTION,
        lease: float = LEASE,
        timeout: float = TIMEOUT,
        heartbeat: float = 15.0,
    ) -> None:
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": timeout,
            "socket_connect_timeout": min(timeout, 2.0),
        }
        self.url = url
        # At most CONNECTIONS to Redis; a request beyond them waits for one (up to POOL_WAIT
        # s) instead of failing. One retry on a broken connection: after Redis restarted,
        # the pool's idle connections are stale, and the first command on each must not
        # fail for that. None after a timeout: a stalled Redis is told after `timeout` s.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=CONNECTIONS,
            timeout=POOL_WAIT,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            **options,
        )
        self._redis = aioredis.Redis.from_pool(pool)  # closed with it
        # The tailing loop's own connection, without retries: after a reconnect, its client
        # id (which CLIENT UNBLOCK names) must be looked up again.
        self._tail = aioredis.Redis.from_url(
            url, single_connection_client=True, retry=Retry(NoBackoff(), 0), **options
        )
        self._append = self._redis.register_script(_APPEND)
        self._finish = self._redis.register_script(_FINISH)
        self._renew = self._redis.register_script(_RENEW)
        self._token = secrets.token_hex(16)  # this process's leases hold it
        self._retention_ms = int(retention * 1000)
        self._lease = lease
        self._watching: dict[str, list[_Watching]] = {}
        self._tails: dict[str, Tail] = {}  # of the answers read here, while they run
        self._heartbeat = heartbeat
        self._writes = Writes()  # the answers generated here
        self._pending: list[tuple[str, int, Sequence[str]]] = []  # appends not yet sent
        self._writing: asyncio.Task[None] | None = None  # sending them
        self._queued: asyncio.Future[None] | None = None  # done once `_pending` is sent
        self._sending: asyncio.Future[None] | None = None  # done once the batch in flight is
        # Ends of answers generated here that Redis refused -> the end script's ARGV (None
        # while the first try is on its way); their leases are renewed until Redis has them.
        self._ending: dict[str, list[Any] | None] = {}
        self._troubles = BurstLog(log, verb="failed")  # one line per burst, not per retry
        self._ended: list[Callable[[str], None]] = []
        self._changed = asyncio.Event()  # the watched set changed: XREAD again
        self._tail_id: int | None = None  # CLIENT ID of the tailing connection
        self._blocked = False  # the tailing loop is waiting in XREAD BLOCK
        self._waking: asyncio.Task[None] | None = None  # a CLIENT UNBLOCK on its way
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False  # the loops end (redis-py may turn a cancellation into an error)

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RedisAnswerStore:
        """A store on the Redis at `url`, checked to answer; StoreUnavailable (naming the URL)
        if it does not."""
        store = cls(url, **options)
        try:
            version = (await store._redis.info("server"))["redis_version"]
        except _DOWN as exc:
            await store._close_clients()
            raise StoreUnavailable(
                redacted(f"cannot reach the answer store at {url}: {exc}")
            ) from None
        if int(version.split(".")[0]) < 7:  # XADD ... 0-* came in 7.0
            await store._close_clients()
            raise StoreUnavailable(f"the answer store needs Redis 7.0 or later, not {version}")
        store._tasks = [
            asyncio.create_task(store._tail_loop(), name="redis tail"),
            asyncio.create_task(store._hear_ends(), name="redis ends"),
            asyncio.create_task(store._keep_leases(), name="redis leases"),
        ]
        return store

    async def _call(self, call: Awaitable[T]) -> T:
        """`await call`, with Redis unreachable or refusing said as StoreUnavailable."""
        try:
            return await call
        except _DOWN as exc:
            message = f"the answer store at {self.url} is unreachable: {exc}"
            raise StoreUnavailable(redacted(message)) from exc
        except RedisError as exc:  # e.g. out of memory
            raise StoreUnavailable(redacted(f"the answer store refused: {exc}")) from exc

    async def create(self, owner: str, prompt: str) -> Answer:
        answer = Answer(new_answer_id(), owner, prompt, RUNNING, time.time())
        row, _, lease = _keys(answer.id)
        fields: dict[Any, Any] = {"owner": owner, "prompt": prompt, "status": "running"}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(row, mapping={**fields, "created_at": repr(answer.created_at)})
            pipe.pexpire(row, self._retention_ms)
            pipe.set(lease, self._token, px=int(self._lease * 1000))
            await self._call(pipe.execute())
        self._writes.begin(answer.id)
        return answer

    async def get(self, answer_id: str) -> Answer | None:
        row: Any = await self._call(self._redis.hgetall(_keys(answer_id)[0]))
        if not row:
            return None
        outcome = Outcome(row["status"], row.get("finish_reason"), row.get("error"))
        return Answer(answer_id, row["owner"], row["prompt"], outcome, float(row["created_at"]))

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        """Queue the deltas for the next write; see `_write`."""
        self._writes.check(answer_id, seq, texts)
        if not self._pending:
            self._queued = asyncio.get_running_loop().create_future()
        self._pending.append((answer_id, seq, texts))
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        """Send the queued appends, of every answer, in one pipeline per round trip: a
        redis-py command costs far more CPU alone than among others. A refused append makes
        its answer's next append raise and its end an error (as with SQLite's commits); the
        appends of it queued meanwhile are dropped, so that its stored deltas have no gap."""
        try:
            while self._pending:
                batch = [a for a in self._pending if not self._writes.failed(a[0])]
                self._pending = []
                self._sending, self._queued = self._queued, None
                async with self._redis.pipeline(transaction=False) as pipe:
                    for answer_id, seq, texts in batch:
                        args: list[Any] = [seq, self._retention_ms, *texts]
                        await self._append(_keys(answer_id)[:2], args, client=pipe)  # queued
                    try:
                        results = await self._call(pipe.execute(raise_on_error=False))
                    except StoreUnavailable as exc:
                        results = [exc] * len(batch)
                for (answer_id, seq, _), result in zip(batch, results, strict=True):
                    if isinstance(result, Exception):
                        self._writes.refused(answer_id, StoreUnavailable(redacted(str(result))))
                    elif result == -1:  # an earlier delta is missing (its stream was deleted?)
                        missing = f"delta {seq} of {answer_id} would follow a delta not stored"
                        self._writes.refused(answer_id, StoreUnavailable(missing))
                    elif not result:  # ended by another process meanwhile
                        self._writes.refused(answer_id, AnswerEnded(f"{answer_id} has ended"))
                if self._sending is not None:
                    self._sending.set_result(None)
        finally:
            self._writing = None
            for waiting in (self._sending, self._queued):  # cancelled: nobody waits for ever
                if waiting is not None and not waiting.done():
                    waiting.set_result(None)
            self._sending = self._queued = None

    async def finish(self, answer_id: str, outcome: Outcome) -> bool:
        return await self._end(answer_id, outcome, lapsed_only=False)

    async def _end(self, answer_id: str, outcome: Outcome, lapsed_only: bool) -> bool:
        """The end script. If Redis refuses it, the readers of this process and (if Redis
        still passes messages) every other's are told STORE_LOST, an end not stored; the
        generating process keeps the answer's lease and stores its end once Redis takes it
        (`_keep_leases`), so every reader that reconnects gets that one end."""
        written_here = not lapsed_only and answer_id in self._writes
        if written_here:
            await self._sent()  # its deltas come before its end
            outcome = self._writes.end(answer_id, outcome)
            self._ending[answer_id] = None
        args: list[Any] = [outcome.status, outcome.finish_reason or "", outcome.error or ""]
        args += [self._retention_ms, "1" if lapsed_only else "0", self._token]
        args += [ENDED_CHANNEL, _ended_message(answer_id, stored=True)]
        if written_here:
            self._tell_ended(answer_id)
        try:
            ended = bool(await self._call(self._finish(_keys(answer_id), args)))
        except StoreUnavailable:
            if answer_id in self._ending:
                self._ending[answer_id] = args
            self._tell_end(answer_id, STORE_LOST)
            with contextlib.suppress(RedisError, OSError):
                message = _ended_message(answer_id, stored=False)
                await self._redis.publish(ENDED_CHANNEL, message)
            raise
        self._ending.pop(answer_id, None)
        return ended

    async def _sent(self) -> None:
        """Wait until the appends queued so far have been sent (not those queued later: under
        a steady stream of appends the writing never stops)."""
        waiting = self._queued or self._sending
        if waiting is not None:
            await asyncio.shield(waiting)

    async def read(self, answer_id: str, after: int) -> Progress:
        if answer_id in self._writes:
            await self._sent()  # a reader sees what was appended before it asked
        progress, lease_held = await self._read(answer_id, after)
        if progress.status == "running" and not lease_held and not self._writes_or_ends(answer_id):
            await self._end(answer_id, Outcome("error", None, WORKER_LOST), lapsed_only=True)
            progress, _ = await self._read(answer_id, after)
        return progress

    async def _read(self, answer_id: str, after: int) -> tuple[Progress, bool]:
        """What is stored after `after`, and whether the answer's lease is held.

        No MULTI/EXEC: Redis out of memory refuses a whole transaction, reads and all. The
        commands run in this order instead: the hash, then the stream's last entry, then
        its entries after `after`. So an end the hash shows is in the stream read after
        it, and an end that came in between is the stream's own last entry."""
        row, deltas, lease = _keys(answer_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(row, ["status", "finish_reason", "error"])
            pipe.exists(lease)
            pipe.xrevrange(deltas, count=1)
            pipe.xrange(deltas, f"(0-{after}", "+")
            (status, reason, error), lease_held, last, entries = await self._call(pipe.execute())
        if status is None:
            raise KeyError(answer_id)
        known = _progress(last, 0).last_seq if last else 0  # the deltas stored when it ran
        progress = _progress(entries, known)
        if progress.status == "running" and status != "running":  # the reader had the end
            progress = Progress(progress.deltas, progress.last_seq, Outcome(status, reason, error))
        return progress, bool(lease_held)

    def _writes_or_ends(self, answer_id: str) -> bool:
        """Whether this process generates the answer, or has its end to store."""
        return answer_id in self._writes or answer_id in self._ending

    def tail(self, answer_id: str) -> Tail | None:
        """The answer's tail here, made at its first reader: the tailing loop publishes to
        it what Redis holds of the answer (from delta 1), then what comes, the End last."""
        tail = self._tails.get(answer_id)
        if tail is not None:
            return tail
        tail = self._tails[answer_id] = Tail(self._heartbeat)

        def publish(progress: Progress) -> None:
            batch = Batch.of(progress)
            if not batch.pieces:
                return  # nothing stored yet: heartbeats are the tail's own
            if batch.ended:
                unwatch()
                if self._tails.get(answer_id) is tail:
                    del self._tails[answer_id]
            tail.publish(batch)

        unwatch = self._watch(answer_id, 0, publish)
        return tail

    def _watch(self, answer_id: str, after: int, watcher: Watcher) -> Callable[[], None]:
        """The answer's news after `after`, from this process's tailing loop: what is stored
        comes with its first XREAD (soon, not before returning), then the rest as it comes."""
        watching = _Watching(after, watcher)
        watchers = self._watching.setdefault(answer_id, [])
        if not watchers or after < min(w.seq for w in watchers):
            self._rewatch()  # a stream to add, or one to read from further back
        watchers.append(watching)

        def unwatch() -> None:
            listed = self._watching.get(answer_id)
            if listed is not None and watching in listed:
                listed.remove(watching)
                if not listed:
                    del self._watching[answer_id]

        return unwatch

    def on_ended(self, listener: Callable[[str], None]) -> None:
        self._ended.append(listener)

    def _tell_ended(self, answer_id: str) -> None:
        for listener in self._ended:
            listener(answer_id)

    def _rewatch(self) -> None:
        """Make the tailing loop issue its XREAD again, with the new set of streams."""
        self._changed.set()
        if self._blocked and self._tail_id is not None and not self._waking:
            self._waking = asyncio.get_running_loop().create_task(self._unblock(self._tail_id))

    async def _unblock(self, tail_id: int) -> None:
        try:
            with contextlib.suppress(RedisError, OSError):  # the loop's timeout is the fallback
                await self._redis.client_unblock(tail_id)
        finally:
            self._waking = None

    async def _tail_loop(self) -> None:
        """One XREAD BLOCK over every watched answer's stream, for the life of the store;
        between reads, ends answers whose generating process has died."""
        checked = 0.0
        while not self._closing:
            try:
                self._tail_id = await self._tail.client_id()
                while not self._closing:
                    if time.monotonic() - checked > self._lease / 3:
                        await self._check_leases()
                        checked = time.monotonic()
                    await self._read_news()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: every reader here hears it now
                if self._closing:
                    return
                self._troubles.note("tailing answers", redacted(str(exc)))
                self._tail_id = None
                for answer_id in list(self._watching):
                    self._tell_end(answer_id, STORE_LOST)
                await asyncio.sleep(0.5)

    async def _read_news(self) -> None:
        """One XREAD: block until news for any watched answer (or a new watcher, or a second),
        then tell each watcher what it lacks of it."""
        self._changed.clear()
        answers = {_keys(answer_id)[1]: answer_id for answer_id in self._watching}
        streams: dict[Any, Any] = {
            stream: f"0-{min(w.seq for w in self._watching[answer_id])}"
            for stream, answer_id in answers.items()
        }
        if not streams:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._lease / 3)
            return
        self._blocked = True
        try:
            news: Any = await self._tail.xread(streams, block=int(self._lease * 1000 / 3))
        finally:
            self._blocked = False
            self._waking = None  # a watcher from now on needs a wake-up of its own
        for stream, entries in news or ():
            answer_id = answers[stream]
            read_from = _seq(streams[stream])
            for watching in list(self._watching.get(answer_id, ())):
                if watching.seq < read_from:
                    continue  # it came during the XREAD, from further back: the next one
                lacking = [e for e in entries if _seq(e[0]) > watching.seq]
                if lacking:
                    self._tell(answer_id, watching, _progress(lacking, watching.seq))

    def _tell(self, answer_id: str, watching: _Watching, progress: Progress) -> None:
        if progress.status != "running":
            self._forget(answer_id, watching)
        elif progress.deltas:
            watching.seq = progress.deltas[-1][0]
        watching.watcher(progress)

    def _forget(self, answer_id: str, watching: _Watching) -> None:
        watchers = self._watching.get(answer_id, [])
        if watching in watchers:
            watchers.remove(watching)
        if not watchers:
            self._watching.pop(answer_id, None)

    def _tell_end(self, answer_id: str, error: str) -> None:
        """Tell this process's watchers of the answer an error end that is not stored (not
        `kept`: it has no seq, and a reader that reconnects gets what the store has)."""
        for watching in list(self._watching.get(answer_id, ())):
            unkept = Progress([], watching.seq, Outcome("error", None, error), kept=False)
            self._tell(answer_id, watching, unkept)

    async def _check_leases(self) -> None:
        """End the watched answers whose generating process stopped renewing their lease, and
        tell the watchers of answers that expired."""
        watched = [a for a in self._watching if not self._writes_or_ends(a)]
        if not watched:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for answer_id in watched:
                row, _, lease = _keys(answer_id)
                pipe.hget(row, "status")
                pipe.exists(lease)
            found = await pipe.execute()
        for answer_id, status, lease_held in zip(watched, found[::2], found[1::2], strict=True):
            if status is None:
                self._tell_end(answer_id, EXPIRED)
            elif status == "running" and not lease_held:
                await self._end(answer_id, Outcome("error", None, WORKER_LOST), lapsed_only=True)

    async def _keep_leases(self) -> None:
        """Three times per lease: store the ends Redis refused, and renew the lease of every
        answer this process generates or has an end of to store."""
        while not self._closing:
            await asyncio.sleep(self._lease / 3)
            try:
                if written := [*self._writes.ids(), *self._ending]:
                    args: list[Any] = [self._token, int(self._lease * 1000)]
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for answer_id in written:
                            await self._renew(_keys(answer_id)[2:], args, client=pipe)
                        await pipe.execute()
                await self._store_ends()
            except (RedisError, OSError, StoreUnavailable) as exc:
                self._troubles.note("renewing leases or storing ends", redacted(str(exc)))

    async def _store_ends(self) -> None:
        """Store the ends Redis refused, in the order they came."""
        for answer_id, args in list(self._ending.items()):
            if args is not None:
                await self._call(self._finish(_keys(answer_id), args))
                del self._ending[answer_id]

    async def _hear_ends(self) -> None:
        """Stop generating answers ended by another process; pass on ends Redis refused."""
        while not self._closing:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(ENDED_CHANNEL)
                while not self._closing:  # not pubsub.listen(), which can swallow a cancel
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._heard(str(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                self._troubles.note("listening for ends", redacted(str(exc)))
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _heard(self, data: str) -> None:
        message = json.loads(data)
        answer_id = message["id"]
        if not message["stored"]:  # an end Redis refused to store: the answer goes on there
            self._tell_end(answer_id, STORE_LOST)
        elif answer_id in self._writes:  # ended by another process
            self._writes.end(answer_id, RUNNING)  # its outcome is stored already: no use
            self._tell_ended(answer_id)

    async def close(self) -> None:
        """Stop the store's tasks and close its connections; answers still running stay
        'running' in Redis, and end with an error once their lease lapses."""
        with contextlib.suppress(Exception):
            await self._sent()
            await self._store_ends()
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._watching.clear()
        self._tails.clear()
        await self._close_clients()

    async def _close_clients(self) -> None:
        await self._tail.aclose()
        await self._redis.aclose()

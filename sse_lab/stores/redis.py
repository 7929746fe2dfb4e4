"""Answers in Redis Streams, shared by every server process on one Redis (`--store redis://`).

What Redis holds of an answer, in three keys with one hash tag `{ID}` (one Redis Cluster
slot, so that one script may touch them all):
- `sse_lab:answer:{ID}`, a hash: owner, prompt, created_at, status, finish_reason, error;
- `sse_lab:answer:{ID}:deltas`, a stream: delta n is the entry `0-n` (field `t`, its text),
  and the end is one last entry after them (`end`: the status, and its reason or error).
  So a reader's seq is an entry id, and `XRANGE key (0-n +` is all that follows delta n;
- `sse_lab:answer:{ID}:lease`: the random token of the process writing the answer.

Writing (the process that took `create`): `append` checks the deltas (`Writes`) and returns.
One task per answer then stores what was appended since its last write (at most one write
in flight per answer), in a script that XADDs the deltas and PUBLISHes them, as JSON, on the
answer's channel `sse_lab:answer:{ID}:news`; once Redis has them, it publishes them to the
answer's Tail here. `read` and `finish` first wait for that write. The finish script ends a
running answer (the first end wins, whichever process ends it), adds the end to the stream
and announces it on ENDED_CHANNEL.

Reading in the other processes: each has one subscriber connection, to ENDED_CHANNEL and to
the channel of each answer it tails (SUBSCRIBE at its first reader, UNSUBSCRIBE at its end).
Once Redis confirms a subscription, when a message does not follow on from what the tail
has, and when ENDED_CHANNEL names the answer, the tail catches up with XRANGE.

Across processes:
- a stop: the process writing the answer hears ENDED_CHANNEL and stops generating it (its
  next append would be refused anyway: the answer is no longer running).
- a process killed mid-answer: its leases lapse, as only it renews them (compare and set);
  a process tailing the answer, or a `read` of it, then ends it with an `error` after its
  stored deltas: with the defaults (3 s lease, checked each second), within about 4 s.
- Redis gone or stalled (no reply within `timeout`): readers get an `error` end that Redis
  does not hold (`End.kept` False: no seq, so a reader that reconnects gets the rest),
  creates and ends raise StoreUnavailable (POST /new: 503). An end Redis refused goes to
  the other processes' readers as `{"stored": false}`, and is stored once Redis takes it.
- no gaps: after a refused append, nothing later of that answer is stored or published,
  and the append script stores only the next delta, so a stored answer is deltas 1..n.
Retention: an answer's keys expire `retention` s (7 days) after its start, and its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sse_lab.burst_log import BurstLog
from sse_lab.config import redacted
from sse_lab.stores.base import (
    MAX_SEQ,
    RUNNING,
    Answer,
    AnswerEnded,
    Batch,
    Delta,
    End,
    Outcome,
    Progress,
    StoreUnavailable,
    Tail,
    Writes,
    new_answer_id,
)

log = logging.getLogger("sse_lab.stores.redis")
T = TypeVar("T")
RETENTION = 7 * 24 * 3600.0  # seconds an answer is kept
CONNECTIONS = 128  # per process, besides its subscriber connection
POOL_WAIT = 30.0  # seconds a command may wait for a free connection in a burst
LEASE = 3.0  # seconds a writing process's claim on its answer lasts unless renewed
TIMEOUT = 2.0  # seconds without a reply before Redis counts as away (POST /new: 503)
WORKER_LOST = "the server process writing this answer stopped"
STORE_LOST = "the server cannot use the answer store right now; reconnect to resume"
EXPIRED = "this answer has expired"
ENDED_CHANNEL = "sse_lab:ended"  # JSON {"id": ..., "stored": false for an end Redis refused}
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def _keys(answer_id: str) -> list[str]:
    """The answer's hash, stream of deltas and lease: KEYS[1], KEYS[2], KEYS[3] of a script."""
    answer = f"sse_lab:answer:{{{answer_id}}}"
    return [answer, f"{answer}:deltas", f"{answer}:lease"]


def _channel(answer_id: str) -> str:
    """Where the answer's deltas are published, as JSON {"seq": first, "texts": [...]}."""
    return f"sse_lab:answer:{{{answer_id}}}:news"


# Each script names its arguments in its first line; `_Script` passes them by those names.
# Store the deltas of `news` and publish it: 1. Refused: 0 once the answer has ended, -1 if
# a delta before them is missing. Deltas the stream has are skipped: an append retried
# after its reply was lost (Redis had run it) stores nothing twice.
_APPEND = """
local news, channel, retention_ms = unpack(ARGV)
local answer, deltas = KEYS[1], KEYS[2]
if redis.call('HGET', answer, 'status') ~= 'running' then return 0 end
local batch, stored = cjson.decode(news), redis.call('XLEN', deltas)
if batch.seq > stored + 1 then return -1 end
for i, text in ipairs(batch.texts) do
  local seq = batch.seq + i - 1
  if seq > stored then redis.call('XADD', deltas, '0-' .. seq, 't', text) end
end
if batch.seq == 1 then redis.call('PEXPIRE', deltas, retention_ms) end
redis.call('PUBLISH', channel, news)
return 1
"""

# End a running answer: the end's seq, or 0 if it had ended (or, `if_lapsed` 1, if its
# lease is held). The lease is released if `token` holds it; `channel` hears `ended`.
_FINISH = """
local status, finish_reason, error, if_lapsed, token, retention_ms, channel, ended
  = unpack(ARGV)
local answer, deltas, lease = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HGET', answer, 'status') ~= 'running' then return 0 end
if if_lapsed == '1' and redis.call('EXISTS', lease) == 1 then return 0 end
local entry = {'end', status}
redis.call('HSET', answer, 'status', status)
for _, field in ipairs({{'finish_reason', finish_reason}, {'error', error}}) do
  if field[2] ~= '' then
    redis.call('HSET', answer, field[1], field[2])
    table.insert(entry, field[1]); table.insert(entry, field[2])
  end
end
local id = redis.call('XADD', deltas, '0-*', unpack(entry))
redis.call('PEXPIRE', answer, retention_ms)
redis.call('PEXPIRE', deltas, retention_ms)
if redis.call('GET', lease) == token then redis.call('DEL', lease) end
redis.call('PUBLISH', channel, ended)
return tonumber(string.sub(id, 3))
"""

# Renew the lease for `ms` milliseconds if `token` holds it: 1, else 0.
_RENEW = """
local token, ms = unpack(ARGV)
local lease = KEYS[3]
if redis.call('GET', lease) ~= token then return 0 end
return redis.call('PEXPIRE', lease, ms)
"""


class _Script:
    """A script on one answer's keys, called with the arguments its first line names
    (`local status, error = unpack(ARGV)`), by those names, in that order."""

    def __init__(self, client: aioredis.Redis, lua: str) -> None:
        self.names = re.findall(r"\w+", lua.partition("=")[0])[1:]  # after `local`
        self._script = client.register_script(lua)

    async def __call__(self, answer_id: str, pipe: Any = None, **args: Any) -> Any:
        if list(args) != self.names:
            raise TypeError(f"the script takes {', '.join(self.names)}, in that order")
        return await self._script(_keys(answer_id), list(args.values()), pipe)


def _deltas(seq: int, texts: Sequence[str]) -> Batch:
    return Batch(tuple(Delta(n, text) for n, text in enumerate(texts, seq)))


def _pieces(entries: list[tuple[str, dict[str, Any]]]) -> tuple[Delta | End, ...]:
    """Stream entries `0-n` as readers get them: `t` a delta, `end` the End."""
    pieces: list[Delta | End] = []
    for entry_id, fields in entries:
        seq = int(entry_id.removeprefix("0-"))
        if "t" in fields:
            pieces.append(Delta(seq, fields["t"]))
        else:
            outcome = Outcome(fields["end"], fields.get("finish_reason"), fields.get("error"))
            pieces.append(End(seq, outcome))
    return tuple(pieces)


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
        # A command waits for a free connection rather than fail in a burst; one retry on a
        # broken connection (after a Redis restart the idle ones are stale), none on a timeout.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=CONNECTIONS,
            timeout=POOL_WAIT,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            **options,
        )
        self._redis = aioredis.Redis.from_pool(pool)
        # The subscriber's own connection, never silently replaced: messages sent while it
        # was away are lost, and its tails must hear of it.
        self._subscriber = aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **options)
        self._append = _Script(self._redis, _APPEND)
        self._finish = _Script(self._redis, _FINISH)
        self._renew = _Script(self._redis, _RENEW)
        self._token = secrets.token_hex(16)  # this process's leases hold it
        self._retention_ms = int(retention * 1000)
        self._lease = lease
        self._heartbeat = heartbeat
        self._writes = Writes()  # the answers written here
        self._queued: dict[str, list[str]] = {}  # answer -> texts for its next write
        self._writing: dict[str, asyncio.Task[None]] = {}  # answer -> its latest write
        # Ends Redis refused, of answers written here: the finish script's arguments (None
        # while the first try is on its way); their leases are renewed until Redis has them.
        self._ending: dict[str, dict[str, Any] | None] = {}
        self._tails: dict[str, Tail] = {}  # answer -> its tail here, until its end
        self._subscribed: set[str] = set()  # the tailed answers written elsewhere
        self._pubsub: PubSub | None = None  # while connected
        self._ended: list[Callable[[str], None]] = []
        self._troubles = BurstLog(log, verb="failed")  # one line a burst
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False  # (redis-py may turn a cancellation into an error)

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RedisAnswerStore:
        """A store on the Redis at `url`, checked to answer; StoreUnavailable (naming the URL)
        if it does not, or is older than 7.0 (`XADD key 0-*`)."""
        store = cls(url, **options)
        try:
            version = (await store._redis.info("server"))["redis_version"]
        except _DOWN as exc:
            await store._close_clients()
            raise StoreUnavailable(
                redacted(f"cannot reach the answer store at {url}: {exc}")
            ) from None
        if int(version.split(".")[0]) < 7:
            await store._close_clients()
            raise StoreUnavailable(f"the answer store needs Redis 7.0 or later, not {version}")
        store._spawn(store._listen())
        store._spawn(store._keep_leases())
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
        key, _, lease = _keys(answer.id)
        row: dict[Any, Any] = {"owner": owner, "prompt": prompt, "status": "running"}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={**row, "created_at": repr(answer.created_at)})
            pipe.pexpire(key, self._retention_ms)
            pipe.set(lease, self._token, px=int(self._lease * 1000))
            await self._call(pipe.execute())
        self._writes.begin(answer.id)
        self._tails[answer.id] = Tail(self._heartbeat)
        return answer

    async def get(self, answer_id: str) -> Answer | None:
        row: Any = await self._call(self._redis.hgetall(_keys(answer_id)[0]))
        if not row:
            return None
        outcome = Outcome(row["status"], row.get("finish_reason"), row.get("error"))
        return Answer(answer_id, row["owner"], row["prompt"], outcome, float(row["created_at"]))

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        self._writes.check(answer_id, seq, texts)
        queued = self._queued.get(answer_id)
        if queued is None:  # the first since the answer's last write left: a write of its own
            queued = self._queued[answer_id] = []
            after = self._writing.get(answer_id)
            self._writing[answer_id] = asyncio.create_task(self._write(answer_id, seq, after))
        queued += texts

    async def _write(self, answer_id: str, seq: int, after: asyncio.Task[None] | None) -> None:
        """Store the texts queued for the answer, from delta `seq`, once the write before
        is done; then publish them here. A refused write makes the answer's next append
        raise and its end an error, and its later deltas are not written: no gap."""
        if after is not None:
            await asyncio.wait([after])
        texts = self._queued.pop(answer_id)
        try:
            if self._writes.failed(answer_id):
                return
            news = json.dumps({"seq": seq, "texts": texts}, ensure_ascii=False)
            stored = await self._call(
                self._append(
                    answer_id,
                    news=news,
                    channel=_channel(answer_id),
                    retention_ms=self._retention_ms,
                )
            )
            if stored == 1:
                self._news(answer_id, _deltas(seq, texts))
            elif stored == 0:  # ended by another process meanwhile
                self._writes.refused(answer_id, AnswerEnded(f"{answer_id} has ended"))
            else:  # an earlier delta is missing (its stream was deleted?)
                missing = f"delta {seq} of {answer_id} would follow a delta not stored"
                self._writes.refused(answer_id, StoreUnavailable(missing))
        except StoreUnavailable as exc:
            self._writes.refused(answer_id, exc)
        finally:
            if self._writing.get(answer_id) is asyncio.current_task():
                del self._writing[answer_id]

    async def _written(self, answer_id: str) -> None:
        """Wait until the deltas appended to the answer so far are stored (or refused)."""
        if (writing := self._writing.get(answer_id)) is not None:
            await asyncio.wait([writing])

    async def finish(self, answer_id: str, outcome: Outcome) -> bool:
        return await self._end(answer_id, outcome)

    async def _end(self, answer_id: str, outcome: Outcome, lapsed_only: bool = False) -> bool:
        """The finish script. If Redis refuses it, the readers here and (if Redis still
        passes messages) in every other process are told STORE_LOST; the writing process
        keeps the lease and stores this end once Redis takes it (`_keep_leases`)."""
        mine = not lapsed_only and answer_id in self._writes
        if mine:
            await self._written(answer_id)  # its deltas come before its end
            outcome = self._writes.end(answer_id, outcome)
            self._ending[answer_id] = None
            for listener in self._ended:
                listener(answer_id)
        args = {
            "status": outcome.status,
            "finish_reason": outcome.finish_reason or "",
            "error": outcome.error or "",
            "if_lapsed": int(lapsed_only),
            "token": self._token,
            "retention_ms": self._retention_ms,
            "channel": ENDED_CHANNEL,
            "ended": json.dumps({"id": answer_id, "stored": True}),
        }
        try:
            seq = await self._call(self._finish(answer_id, **args))
        except StoreUnavailable:
            if mine:
                self._ending[answer_id] = args
            self._unkept_end(answer_id, STORE_LOST)
            with contextlib.suppress(RedisError, OSError):
                ended = json.dumps({"id": answer_id, "stored": False})
                await self._redis.publish(ENDED_CHANNEL, ended)
            raise
        self._ending.pop(answer_id, None)
        if seq:
            self._news(answer_id, Batch((End(seq, outcome),)))
        elif mine:  # another process ended it first: the tail here gets that end
            self._spawn(self._catch_up(answer_id))
        return bool(seq)

    async def read(self, answer_id: str, after: int) -> Progress:
        await self._written(answer_id)  # a reader sees what was appended before it asked
        progress, lease_held = await self._read(answer_id, after)
        if progress.status == "running" and not lease_held and not self._mine(answer_id):
            await self._end(answer_id, Outcome("error", None, WORKER_LOST), lapsed_only=True)
            progress, _ = await self._read(answer_id, after)
        return progress

    async def _read(self, answer_id: str, after: int) -> tuple[Progress, bool]:
        """What is stored after `after`, and whether the answer's lease is held.

        No MULTI/EXEC (a Redis out of memory refuses a whole transaction, reads and all):
        the hash is read first, then the stream's last entry, then its entries after
        `after`, so an end the hash shows is in the stream read after it."""
        key, deltas, lease = _keys(answer_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(key, ["status", "finish_reason", "error"])
            pipe.exists(lease)
            pipe.xrevrange(deltas, count=1)
            pipe.xrange(deltas, f"(0-{after}", "+")
            (status, reason, error), lease_held, last, entries = await self._call(pipe.execute())
        if status is None:
            raise KeyError(answer_id)
        pieces = _pieces(entries)
        texts = [(piece.seq, piece.text) for piece in pieces if isinstance(piece, Delta)]
        if pieces and isinstance(end := pieces[-1], End):
            return Progress(texts, end.seq - 1, end.outcome), bool(lease_held)
        known = [piece.seq - isinstance(piece, End) for piece in _pieces(last)]
        last_seq = max([0, *known, *(seq for seq, _ in texts)])
        return Progress(texts, last_seq, Outcome(status, reason, error)), bool(lease_held)

    def _mine(self, answer_id: str) -> bool:
        """Whether this process writes the answer, or has its end to store."""
        return answer_id in self._writes or answer_id in self._ending

    def tail(self, answer_id: str) -> Tail | None:
        tail = self._tails.get(answer_id)
        if tail is None:
            tail = self._tails[answer_id] = Tail(self._heartbeat)
            if answer_id not in self._writes:  # written elsewhere: heard on its channel
                self._subscribed.add(answer_id)
                self._spawn(self._subscribe(answer_id, True))
        return tail

    def on_ended(self, listener: Callable[[str], None]) -> None:
        self._ended.append(listener)

    # How readers hear news: the writer's batches, its subscriber's messages, catch-ups.

    def _news(self, answer_id: str, batch: Batch) -> None:
        """Publish `batch` to the answer's tail here if it follows on from what the tail
        has; after a gap (news that came before the tail's subscription), catch up."""
        tail = self._tails.get(answer_id)
        if tail is None or not batch.pieces:
            return
        if batch.pieces[0].seq > tail.seq + 1:
            self._spawn(self._catch_up(answer_id))
        else:
            self._publish(answer_id, batch.after(tail.seq))

    async def _catch_up(self, answer_id: str) -> None:
        """Publish to the answer's tail here what the stream has past it."""
        tail = self._tails.get(answer_id)
        if tail is None:
            return
        deltas = _keys(answer_id)[1]
        try:
            entries: Any = await self._call(self._redis.xrange(deltas, f"(0-{tail.seq}", "+"))
        except StoreUnavailable:
            self._unkept_end(answer_id, STORE_LOST)
            return
        if self._tails.get(answer_id) is tail:
            self._publish(answer_id, Batch(_pieces(entries)).after(tail.seq))

    def _publish(self, answer_id: str, batch: Batch) -> None:
        tail = self._tails.get(answer_id)
        if tail is None or not batch.pieces:
            return
        if batch.ended:
            del self._tails[answer_id]
            if answer_id in self._subscribed:
                self._subscribed.discard(answer_id)
                self._spawn(self._subscribe(answer_id, False))
        tail.publish(batch)

    def _unkept_end(self, answer_id: str, error: str) -> None:
        """Tell the answer's readers here an error end that Redis does not hold (after any
        seq: it is sent without one)."""
        outcome = Outcome("error", None, error)
        self._publish(answer_id, Batch((End(MAX_SEQ, outcome, kept=False),)))

    async def _subscribe(self, answer_id: str, subscribe: bool) -> None:
        """SUBSCRIBE to the answer's channel (or UNSUBSCRIBE); when the subscriber is not
        connected, `_listen` subscribes to every tailed answer's channel as it connects."""
        if (pubsub := self._pubsub) is not None:
            with contextlib.suppress(RedisError, OSError):  # `_listen` hears of it
                command = pubsub.subscribe if subscribe else pubsub.unsubscribe
                await command(_channel(answer_id))

    async def _listen(self) -> None:
        """The subscriber connection. When it is lost, the answers it tailed end here with
        STORE_LOST (what was sent meanwhile is lost), and it connects again."""
        while not self._closing:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.subscribe(ENDED_CHANNEL)
                self._pubsub = pubsub
                if self._subscribed:
                    await pubsub.subscribe(*map(_channel, self._subscribed))
                while not self._closing:
                    self._heard(await pubsub.get_message(timeout=None))
            except (RedisError, OSError) as exc:
                self._troubles.note("listening for news", redacted(str(exc)))
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if self._closing:
                return
            for answer_id in list(self._subscribed):
                self._unkept_end(answer_id, STORE_LOST)
            await asyncio.sleep(0.5)

    def _heard(self, message: dict[str, Any] | None) -> None:
        if message is None or message["type"] not in ("message", "subscribe"):
            return
        channel, data = message["channel"], message["data"]
        if channel == ENDED_CHANNEL:
            if message["type"] == "message":
                self._heard_end(json.loads(data))
            return
        answer_id = channel.partition("{")[2].partition("}")[0]
        if message["type"] == "subscribe":  # from now on its news come here: catch up once
            self._spawn(self._catch_up(answer_id))
        else:
            news = json.loads(data)
            self._news(answer_id, _deltas(news["seq"], news["texts"]))

    def _heard_end(self, message: dict[str, Any]) -> None:
        answer_id = message["id"]
        if not message["stored"]:  # an end Redis refused: the answer goes on there
            self._unkept_end(answer_id, STORE_LOST)
            return
        if answer_id in self._writes:  # ended by another process: stop writing it
            self._writes.end(answer_id, RUNNING)
            for listener in self._ended:
                listener(answer_id)
        if answer_id in self._tails:
            self._spawn(self._catch_up(answer_id))

    # Leases: who writes an answer, and whether that process still lives.

    async def _keep_leases(self) -> None:
        """Three times a lease: renew the leases of the answers written here (and of those
        whose end Redis refused, stored now if it can be); end the answers tailed here
        whose lease lapsed, and tell their readers of those that expired."""
        while not self._closing:
            await asyncio.sleep(self._lease / 3)
            try:
                if mine := [*self._writes.ids(), *self._ending]:
                    ms = int(self._lease * 1000)
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for answer_id in mine:
                            await self._renew(answer_id, pipe, token=self._token, ms=ms)
                        await self._call(pipe.execute())
                await self._check_leases()
            except StoreUnavailable as exc:  # Redis is away: every reader here hears it
                self._troubles.note("renewing leases", str(exc))
                for answer_id in list(self._tails):
                    self._unkept_end(answer_id, STORE_LOST)
            try:
                await self._store_ends()
            except StoreUnavailable as exc:
                self._troubles.note("storing ends", str(exc))

    async def _store_ends(self) -> None:
        """Store the ends Redis refused, in the order they came."""
        for answer_id, args in list(self._ending.items()):
            if args is not None:
                await self._call(self._finish(answer_id, **args))
                del self._ending[answer_id]

    async def _check_leases(self) -> None:
        others = [answer_id for answer_id in self._tails if not self._mine(answer_id)]
        if not others:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for answer_id in others:
                key, _, lease = _keys(answer_id)
                pipe.hget(key, "status")
                pipe.exists(lease)
            found = await self._call(pipe.execute())
        for answer_id, status, held in zip(others, found[::2], found[1::2], strict=True):
            if status is None:
                self._unkept_end(answer_id, EXPIRED)
            elif status == "running" and not held:
                await self._end(answer_id, Outcome("error", None, WORKER_LOST), lapsed_only=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in a task of the store's, cancelled by `close`."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Store what is on its way, stop the store's tasks and close its connections;
        answers still running stay 'running' in Redis, and end once their lease lapses."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._writing.values())
            await self._store_ends()
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tails.clear()
        await self._close_clients()

    async def _close_clients(self) -> None:
        await self._subscriber.aclose()
        await self._redis.aclose()

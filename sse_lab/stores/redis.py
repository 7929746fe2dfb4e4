"""Answers in Redis Streams, shared by every server process on one Redis (`--store redis://`).

Redis holds an answer in three keys with one hash tag `{ID}` (so one Redis Cluster slot,
and one script may touch them all): the hash `sse_lab:answer:{ID}` (owner, prompt, status,
finish reason, error, the model's token counts), the stream `...:deltas`, where delta n is
the entry `0-n` and the end is one last entry after them, and `...:lease`, the token of the
process writing it. A reader's seq is thus an entry id: `XRANGE ...:deltas (0-n +` is all
that follows delta n.

The process that created an answer writes it: `append` checks the deltas and returns; a
task per answer then stores what was appended since its last write (one write in flight per
answer), with a script that XADDs them and PUBLISHes them on the answer's channel
`...:news`, and publishes them to the answer's tail here. `read` and `finish` wait for it.
The finish script ends a running answer (the first end wins, whoever ends it), adds the end
to the stream and announces it on ENDED_CHANNEL.

Every process has one subscriber connection: to ENDED_CHANNEL, and to the channel of each
answer that it tails and another writes (SUBSCRIBE at its first reader, UNSUBSCRIBE at its
end). Once Redis confirms a subscription, when a message leaves a gap and when an end is
announced, the tail catches up with XRANGE. Across processes:
- a stop: the writing process hears of it on ENDED_CHANNEL and stops generating.
- a process killed mid-answer: its leases, renewed by it alone (compare and set), lapse; a
  process tailing the answer, or a `read`, then ends it with an error after its deltas (with
  the defaults, 3 s leases checked each second, within about 4 s).
- Redis gone or stalled (no reply within `timeout`): readers get an error end that Redis
  does not hold (`End.kept` False: no seq, so one that reconnects gets the rest); creates
  and ends raise StoreUnavailable (POST /new: 503), and so does the next append after a
  refused write. The writer stores a refused end once Redis takes it.
- no gaps: after a refused write, nothing more of that answer is stored or published.
An answer's keys expire `retention` s (7 days) after its start, and after its end.
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
from dataclasses import asdict
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
    USAGE_FIELDS,
    Answer,
    AnswerEnded,
    Batch,
    Delta,
    End,
    Outcome,
    Progress,
    Status,
    StoreUnavailable,
    Tail,
    Usage,
    Writes,
    new_answer_id,
)

log = logging.getLogger("sse_lab.stores.redis")
T = TypeVar("T")
RETENTION = 7 * 24 * 3600.0  # seconds an answer is kept
CONNECTIONS = 128  # per process, besides its subscriber connection
POOL_WAIT = 30.0  # seconds a command may wait for a free connection in a burst
LEASE = 3.0  # seconds a writing process's claim on its answer lasts unless renewed
TIMEOUT = 2.0  # seconds without a reply before Redis counts as away
WORKER_LOST = "the server process writing this answer stopped"
STORE_LOST = "the server cannot use the answer store right now; reconnect to resume"
EXPIRED = "this answer has expired"
ENDED_CHANNEL = "sse_lab:ended"  # JSON {"id": ..., "stored": false for an end Redis refused}
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def _keys(answer_id: str) -> list[str]:
    """The answer's hash, stream and lease (a script's KEYS), and its channel."""
    answer = f"sse_lab:answer:{{{answer_id}}}"
    return [answer, f"{answer}:deltas", f"{answer}:lease", f"{answer}:news"]


# Store the deltas of `news` (JSON: {"seq": first, "texts": [...]}) and publish it: 1; or 0
# once the answer ended, -1 if a delta before them is missing. Deltas the stream has are
# skipped: an append retried after its reply was lost stores nothing twice.
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

# End a running answer: the end's seq; 0 if it had ended (or, `if_lapsed` 1, if its lease is
# held). The lease is released if `token` holds it; `channel` hears `ended`. The hash and the
# end's entry get the status and each field of the outcome that is not ''.
_FINISH = """
local status, finish_reason, error, prompt_tokens, completion_tokens, total_tokens,
  if_lapsed, token, retention_ms, channel, ended = unpack(ARGV)
local answer, deltas, lease = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HGET', answer, 'status') ~= 'running' then return 0 end
if if_lapsed == '1' and redis.call('EXISTS', lease) == 1 then return 0 end
local entry = {'end', status}
for name, value in pairs({finish_reason = finish_reason, error = error,
    prompt_tokens = prompt_tokens, completion_tokens = completion_tokens,
    total_tokens = total_tokens}) do
  if value ~= '' then table.insert(entry, name); table.insert(entry, value) end
end
redis.call('HSET', answer, 'status', unpack(entry, 2))
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
if redis.call('GET', KEYS[3]) ~= token then return 0 end
return redis.call('PEXPIRE', KEYS[3], ms)
"""


class _Script:
    """A script on an answer's keys, given the arguments its first line names, by name."""

    def __init__(self, client: aioredis.Redis, lua: str) -> None:
        self.names = re.findall(r"\w+", lua.partition("=")[0])[1:]  # after `local`
        self._script = client.register_script(lua)

    async def __call__(self, answer_id: str, pipe: Any = None, **args: Any) -> Any:
        if list(args) != self.names:
            raise TypeError(f"the script takes {', '.join(self.names)}, in that order")
        return await self._script(_keys(answer_id)[:3], list(args.values()), pipe)


def _deltas(seq: int, texts: Sequence[str]) -> Batch:
    return Batch(tuple(Delta(n, text) for n, text in enumerate(texts, seq)))


def _pieces(entries: list[tuple[str, dict[str, Any]]]) -> tuple[Delta | End, ...]:
    """Stream entries as readers get them: `t` a delta, `end` the End."""
    pieces: list[Delta | End] = []
    for entry_id, fields in entries:
        seq = int(entry_id.removeprefix("0-"))
        if "t" in fields:
            pieces.append(Delta(seq, fields["t"]))
        else:
            pieces.append(End(seq, _outcome(fields["end"], fields)))
    return tuple(pieces)


def _outcome(status: Status, fields: dict[str, Any]) -> Outcome:
    """An outcome from the fields of an answer's hash or of its end's entry."""
    return Outcome(status, fields.get("finish_reason"), fields.get("error"), Usage.of(fields))


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
        self.url = url
        options: Any = {"decode_responses": True, "socket_timeout": timeout}
        options["socket_connect_timeout"] = min(timeout, 2.0)
        # A command waits for a free connection rather than fail in a burst. One retry on a
        # broken connection (after a Redis restart, idle ones are stale), none on a timeout.
        retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=CONNECTIONS, timeout=POOL_WAIT, retry=retry, **options
        )
        self._redis = aioredis.Redis.from_pool(pool)
        # Never retried: what was published while it was away is lost, so its tails must end.
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
        # Ends of answers written here, on their way or refused: the finish script's
        # arguments (None on the first try); their leases are renewed until Redis has them.
        self._ending: dict[str, dict[str, Any] | None] = {}
        self._tails: dict[str, Tail] = {}  # answer -> its tail here, until its end
        self._subscribed: set[str] = set()  # the tailed answers written elsewhere
        self._pubsub: PubSub | None = None  # while connected
        self._ended: list[Callable[[str], None]] = []
        self._troubles = BurstLog(log, verb="failed")  # one line a burst, not one a retry
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False  # (redis-py may turn a cancellation into an error)

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RedisAnswerStore:
        """A store on the Redis at `url`; StoreUnavailable, in one sentence naming it, if
        Redis does not answer or is older than 7.0 (which brought `XADD key 0-*`)."""
        store = cls(url, **options)
        try:
            version = (await store._redis.info("server"))["redis_version"]
            problem = f"the answer store needs Redis 7.0 or later, not {version}"
        except _DOWN as exc:
            version, problem = "0", f"cannot reach the answer store at {url}: {exc}"
        if int(version.split(".")[0]) < 7:
            await store.close()
            raise StoreUnavailable(redacted(problem))
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
        key, _, lease, _ = _keys(answer.id)
        row: Any = {"owner": owner, "prompt": prompt, "status": "running"}
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
        outcome = _outcome(row["status"], row)
        return Answer(answer_id, row["owner"], row["prompt"], outcome, float(row["created_at"]))

    async def append(self, answer_id: str, seq: int, texts: Sequence[str]) -> None:
        self._writes.check(answer_id, seq, texts)
        if answer_id not in self._queued:  # the first since the last write left: a new one
            after = self._writing.get(answer_id)
            self._queued[answer_id] = []
            self._writing[answer_id] = asyncio.create_task(self._write(answer_id, seq, after))
        self._queued[answer_id] += texts

    async def _write(self, answer_id: str, seq: int, after: asyncio.Task[None] | None) -> None:
        """Once the write before it is done, store the texts queued for the answer, from
        delta `seq`, and publish them here. If Redis refuses, the answer's next append
        raises and its end is an error, and nothing more of it is written: no gap."""
        if after is not None:
            await asyncio.wait([after])
        texts = self._queued.pop(answer_id)
        news = json.dumps({"seq": seq, "texts": texts}, ensure_ascii=False)
        args = {"news": news, "channel": _keys(answer_id)[3], "retention_ms": self._retention_ms}
        try:
            if not self._writes.failed(answer_id):
                stored = await self._call(self._append(answer_id, **args))
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
        passes messages) in the other processes are told STORE_LOST, and the writing
        process keeps the lease and stores the end once it can (`_keep_leases`)."""
        mine = not lapsed_only and answer_id in self._writes
        if mine:
            await self._written(answer_id)  # its deltas come before its end
            outcome, self._ending[answer_id] = self._writes.end(answer_id, outcome), None
            for listener in self._ended:
                listener(answer_id)
        usage = asdict(outcome.usage) if outcome.usage else dict.fromkeys(USAGE_FIELDS, "")
        args = {
            "status": outcome.status,
            "finish_reason": outcome.finish_reason or "",
            "error": outcome.error or "",
            **usage,
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
        """What is stored after `after`, and whether the answer's lease is held. Not in
        MULTI/EXEC, which a Redis out of memory refuses, but in this order: the hash, the
        stream's last entry, its entries after `after` (with any end the hash shows)."""
        key, deltas, lease, _ = _keys(answer_id)
        names = ["status", "finish_reason", "error", *USAGE_FIELDS]
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(key, names)
            pipe.exists(lease)
            pipe.xrevrange(deltas, count=1)
            pipe.xrange(deltas, f"(0-{after}", "+")
            values, lease_held, last, entries = await self._call(pipe.execute())
        row = dict(zip(names, values, strict=True))
        if row["status"] is None:
            raise KeyError(answer_id)
        pieces = _pieces(entries)
        texts = [(piece.seq, piece.text) for piece in pieces if isinstance(piece, Delta)]
        if pieces and isinstance(end := pieces[-1], End):
            return Progress(texts, end.seq - 1, end.outcome), bool(lease_held)
        known = [piece.seq - isinstance(piece, End) for piece in _pieces(last)]
        last_seq = max([0, *known, *(seq for seq, _ in texts)])
        return Progress(texts, last_seq, _outcome(row["status"], row)), bool(lease_held)

    def _mine(self, answer_id: str) -> bool:
        """Whether this process writes the answer, or has its end to store."""
        return answer_id in self._writes or answer_id in self._ending

    def tail(self, answer_id: str) -> Tail | None:
        if (tail := self._tails.get(answer_id)) is None:
            tail = self._tails[answer_id] = Tail(self._heartbeat)
            if answer_id not in self._writes:  # written elsewhere: heard on its channel
                self._subscribed.add(answer_id)
                self._spawn(self._subscribe(answer_id))
        return tail

    def on_ended(self, listener: Callable[[str], None]) -> None:
        self._ended.append(listener)

    # How the tails here hear news: from the writer, a channel, or XRANGE.

    def _news(self, answer_id: str, batch: Batch) -> None:
        """Publish `batch` to the answer's tail here if it follows on from what the tail
        has; after a gap (news sent before its subscription), catch up instead."""
        tail = self._tails.get(answer_id)
        if tail is not None and batch.pieces and batch.pieces[0].seq > tail.seq + 1:
            self._spawn(self._catch_up(answer_id))
        elif tail is not None:
            self._publish(answer_id, batch.after(tail.seq))

    async def _catch_up(self, answer_id: str) -> None:
        """Publish to the answer's tail here what the stream has past it."""
        if (tail := self._tails.get(answer_id)) is None:
            return
        try:
            xrange = self._redis.xrange(_keys(answer_id)[1], f"(0-{tail.seq}", "+")
            entries: Any = await self._call(xrange)
        except StoreUnavailable:
            self._unkept_end(answer_id, STORE_LOST)
            return
        if self._tails.get(answer_id) is tail:
            self._publish(answer_id, Batch(_pieces(entries)).after(tail.seq))

    def _publish(self, answer_id: str, batch: Batch) -> None:
        if (tail := self._tails.get(answer_id)) is None or not batch.pieces:
            return
        if batch.ended:
            del self._tails[answer_id]
            if answer_id in self._subscribed:
                self._subscribed.discard(answer_id)
                self._spawn(self._subscribe(answer_id))
        tail.publish(batch)

    def _unkept_end(self, answer_id: str, error: str) -> None:
        """Tell the answer's readers here an error end Redis does not hold (sent without a
        seq, so after any)."""
        outcome = Outcome("error", None, error)
        self._publish(answer_id, Batch((End(MAX_SEQ, outcome, kept=False),)))

    async def _subscribe(self, answer_id: str) -> None:
        """SUBSCRIBE to the answer's channel if it is in `_subscribed`, else UNSUBSCRIBE
        (when connected: when not, `_listen` subscribes as it connects)."""
        if (pubsub := self._pubsub) is not None:
            command = pubsub.subscribe if answer_id in self._subscribed else pubsub.unsubscribe
            with contextlib.suppress(RedisError, OSError):  # `_listen` hears of it
                await command(_keys(answer_id)[3])

    async def _listen(self) -> None:
        """The subscriber connection. Lost, the answers it tailed end here with STORE_LOST
        (what was published meanwhile is lost), and it connects again."""
        while not self._closing:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.subscribe(ENDED_CHANNEL)
                self._pubsub = pubsub
                if self._subscribed:
                    await pubsub.subscribe(*(_keys(a)[3] for a in self._subscribed))
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
        """A message to the subscriber: a subscription confirmed, deltas, or an end."""
        if message is None or message["type"] not in ("message", "subscribe"):
            return
        channel, subscribed = message["channel"], message["type"] == "subscribe"
        if channel == ENDED_CHANNEL:
            if not subscribed:
                self._heard_end(json.loads(message["data"]))
            return
        answer_id = channel.partition("{")[2].partition("}")[0]
        if subscribed:  # from now on its news come here: catch up with what came before
            self._spawn(self._catch_up(answer_id))
        else:
            news = json.loads(message["data"])
            self._news(answer_id, _deltas(news["seq"], news["texts"]))

    def _heard_end(self, ended: dict[str, Any]) -> None:
        answer_id = ended["id"]
        if not ended["stored"]:  # an end Redis refused: the answer goes on there, unheard
            self._unkept_end(answer_id, STORE_LOST)
            return
        if answer_id in self._writes:  # ended by another process: stop writing it
            self._writes.end(answer_id, RUNNING)
            for listener in self._ended:
                listener(answer_id)
        if answer_id in self._tails:
            self._spawn(self._catch_up(answer_id))

    # Leases: who writes each answer, and whether that process still lives.

    async def _keep_leases(self) -> None:
        """Three times a lease: renew the leases of the answers written here (and of those
        whose end is still to store), and look up those of the answers tailed here that
        another process writes: end those whose lease lapsed, and tell the readers of
        those that expired. Then store the ends Redis refused, if it takes them now."""
        ms = int(self._lease * 1000)
        while not self._closing:
            await asyncio.sleep(self._lease / 3)
            mine = [*self._writes.ids(), *self._ending]
            others = [answer_id for answer_id in self._tails if not self._mine(answer_id)]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for answer_id in mine:
                        await self._renew(answer_id, pipe, token=self._token, ms=ms)
                    for answer_id in others:
                        key, _, lease, _ = _keys(answer_id)
                        pipe.hget(key, "status")
                        pipe.exists(lease)
                    found = (await self._call(pipe.execute()))[len(mine) :]
                for answer_id, status, held in zip(others, found[::2], found[1::2], strict=True):
                    if status is None:
                        self._unkept_end(answer_id, EXPIRED)
                    elif status == "running" and not held:
                        lost = Outcome("error", None, WORKER_LOST)
                        await self._end(answer_id, lost, lapsed_only=True)
            except StoreUnavailable as exc:  # Redis is away: every reader here hears it
                self._troubles.note("renewing leases", str(exc))
                for answer_id in list(self._tails):
                    self._unkept_end(answer_id, STORE_LOST)
            try:
                await self._store_ends()
            except StoreUnavailable as exc:  # tried again next time
                self._troubles.note("storing ends", str(exc))

    async def _store_ends(self) -> None:
        """Store the ends Redis refused, in the order they came."""
        for answer_id, args in list(self._ending.items()):
            if args is not None:
                await self._call(self._finish(answer_id, **args))
                del self._ending[answer_id]

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in a task of the store's (cancelled by `close`)."""
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
        await self._subscriber.aclose()
        await self._redis.aclose()

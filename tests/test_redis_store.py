"""What only the Redis store does: several processes' stores on one Redis share answers, a stop
reaches the process generating, a dead process's answer ends, Redis going away is told."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis

from conftest import Reader, read_events, until
from sse_lab.lab.launch import start_server
from sse_lab.services.process import free_port
from sse_lab.services.redis import RedisServer, start_redis
from sse_lab.stores.base import STORE_ERROR, Outcome, StoreUnavailable, Usage
from sse_lab.stores.redis import (
    ENDED_CHANNEL,
    EXPIRED,
    STORE_LOST,
    WORKER_LOST,
    RedisAnswerStore,
)


@pytest.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[list[RedisAnswerStore]]:
    """Two stores on one Redis, as two server processes have; a short lease."""
    stores = [await RedisAnswerStore.connect(redis_server.url, lease=0.6) for _ in range(2)]
    yield stores
    for store in stores:
        await store.close()


async def test_another_process_reads_and_tails_the_answer_by_its_seqs(
    two: list[RedisAnswerStore], redis_server: RedisServer
) -> None:
    writer, reader = two
    answer = await writer.create("alice", "q")
    await writer.append(answer.id, 1, ["Hel", "lo"])
    following = Reader(reader, answer.id)
    assert await until(lambda: following.deltas == [(1, "Hel"), (2, "lo")])
    await writer.append(answer.id, 3, ["!"])
    ended = Outcome("done", "stop", usage=Usage(4, 3, 7))
    await writer.finish(answer.id, ended)
    await asyncio.wait_for(following.task, 5)
    assert following.end is not None and following.end.outcome == ended
    assert following.deltas == [(1, "Hel"), (2, "lo"), (3, "!")]
    assert (await reader.read(answer.id, 2)).deltas == [(3, "!")]
    stored = await reader.get(answer.id)
    assert stored is not None and stored.outcome == (await reader.read(answer.id, 2)).outcome
    assert stored.outcome == ended

    async with aioredis.Redis.from_url(redis_server.url, decode_responses=True) as raw:
        entries = await raw.xrange(f"sse_lab:answer:{{{answer.id}}}:deltas")
        hash_fields = await raw.hgetall(f"sse_lab:answer:{{{answer.id}}}")
    assert [entry_id for entry_id, _ in entries] == ["0-1", "0-2", "0-3", "0-4"]  # seq = id
    usage = {"prompt_tokens": "4", "completion_tokens": "3", "total_tokens": "7"}
    assert entries[-1][1] == {"end": "done", "finish_reason": "stop", **usage}
    assert hash_fields.items() >= {"status": "done", "finish_reason": "stop", **usage}.items()


async def test_readers_joining_in_another_process_while_deltas_come_miss_nothing(
    two: list[RedisAnswerStore],
) -> None:
    writer, other = two
    answer = await writer.create("alice", "q")
    readers = []
    for seq in range(1, 31):  # each joins as its subscription and the writes race
        await writer.append(answer.id, seq, [str(seq)])
        readers.append(Reader(other, answer.id, seq // 2))
        await asyncio.sleep(0.001 * (seq % 3))
    await writer.finish(answer.id, Outcome("done", "stop"))
    await asyncio.wait_for(asyncio.gather(*(reader.task for reader in readers)), 10)
    for reader, seq in zip(readers, range(1, 31), strict=True):
        assert reader.deltas == [(n, str(n)) for n in range(seq // 2 + 1, 31)]
        assert reader.end is not None and reader.end.seq == 31


async def test_an_end_from_another_process_stops_the_generating_one(
    two: list[RedisAnswerStore],
) -> None:
    writer, stopper = two
    stopped: list[str] = []
    writer.on_ended(stopped.append)
    answer = await writer.create("alice", "q")
    await writer.append(answer.id, 1, ["a"])
    assert await stopper.finish(answer.id, Outcome("done", "stopped"))
    assert await until(lambda: stopped == [answer.id])
    with pytest.raises(ValueError, match="has ended"):
        await writer.append(answer.id, 2, ["b"])  # refused by Redis, whoever asks
    assert not await writer.finish(answer.id, Outcome("done", "stop"))  # the first end won
    assert (await writer.get(answer.id)).outcome.finish_reason == "stopped"  # type: ignore[union-attr]


async def test_a_lease_holds_its_writers_token_and_only_the_writer_releases_it(
    two: list[RedisAnswerStore], redis_server: RedisServer
) -> None:
    writer, stopper = two
    stopped, done = await writer.create("alice", "q"), await writer.create("bob", "q")
    other = await stopper.create("carol", "q")
    leases = [f"sse_lab:answer:{{{answer.id}}}:lease" for answer in (stopped, done, other)]
    async with aioredis.Redis.from_url(redis_server.url, decode_responses=True) as raw:
        tokens = [await raw.get(lease) for lease in leases]
        assert tokens[0] == tokens[1] != tokens[2]  # one random token per process
        assert all(len(token) == 32 for token in tokens)
        await stopper.finish(stopped.id, Outcome("done", "stopped"))  # a stop from elsewhere
        assert await raw.get(leases[0]) == tokens[0]  # left to lapse: not its lease
        await writer.finish(done.id, Outcome("done", "stop"))
        assert await raw.exists(leases[1]) == 0  # released by its owner


async def test_the_ended_channel_carries_json_naming_the_answer(
    two: list[RedisAnswerStore], redis_server: RedisServer
) -> None:
    writer, _ = two
    answer = await writer.create("alice", "q")
    async with aioredis.Redis.from_url(redis_server.url, decode_responses=True) as raw:
        pubsub = raw.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(ENDED_CHANNEL)
        await writer.finish(answer.id, Outcome("done", "stop"))
        message = None
        for _ in range(50):
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                break
        await pubsub.aclose()
    assert message is not None
    assert json.loads(message["data"]) == {"id": answer.id, "stored": True}


async def test_an_answer_whose_process_died_ends_with_an_error_after_its_deltas(
    redis_server: RedisServer, two: list[RedisAnswerStore]
) -> None:
    dying = await RedisAnswerStore.connect(redis_server.url, lease=0.6)
    answer = await dying.create("alice", "q")
    await dying.append(answer.id, 1, ["half"])
    _, tailer = two
    following = Reader(tailer, answer.id)
    assert await until(lambda: following.deltas == [(1, "half")])
    await dying.close()  # its lease is no longer renewed, as after a kill -9
    await asyncio.wait_for(following.task, 10)
    assert following.end is not None
    assert (following.end.outcome.error, following.deltas) == (WORKER_LOST, [(1, "half")])


async def test_a_read_ends_an_orphaned_answer_that_nobody_watched(
    redis_server: RedisServer, two: list[RedisAnswerStore]
) -> None:
    dying = await RedisAnswerStore.connect(redis_server.url, lease=0.3)
    answer = await dying.create("alice", "q")
    await dying.append(answer.id, 1, ["half"])
    await dying.close()
    reader, _ = two
    await asyncio.sleep(1.0)  # its lease (0.3 s) lapses
    progress = await reader.read(answer.id, 0)
    assert (progress.deltas, progress.status, progress.outcome.error) == (
        [(1, "half")],
        "error",
        WORKER_LOST,
    )


async def test_answers_expire_after_the_retention_time(
    redis_server: RedisServer, two: list[RedisAnswerStore]
) -> None:
    store = await RedisAnswerStore.connect(redis_server.url, retention=60)
    answer = await store.create("alice", "q")
    await store.append(answer.id, 1, ["a"])
    await store.finish(answer.id, Outcome("done", "stop"))
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        for key in (f"sse_lab:answer:{{{answer.id}}}", f"sse_lab:answer:{{{answer.id}}}:deltas"):
            assert 55 < await raw.ttl(key) <= 60
    await store.close()

    writer, watcher = two
    gone = await writer.create("alice", "q")
    following = Reader(watcher, gone.id)
    await asyncio.sleep(0.1)  # it has read the answer and waits
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        await raw.delete(f"sse_lab:answer:{{{gone.id}}}")  # as its expiry would
    await asyncio.wait_for(following.task, 10)
    assert following.end is not None
    assert (following.end.outcome.status, following.end.outcome.error) == ("error", EXPIRED)


async def test_a_write_redis_refuses_ends_the_answer_as_an_error_its_readers_see(
    redis_server: RedisServer, two: list[RedisAnswerStore]
) -> None:
    writer, reader = two
    answer = await writer.create("alice", "q")
    await writer.append(answer.id, 1, ["kept"])
    here, there = Reader(writer, answer.id), Reader(reader, answer.id)
    assert await until(lambda: here.deltas == there.deltas == [(1, "kept")])
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        await raw.config_set("maxmemory", "1")  # every write is refused: out of memory
        try:
            await writer.append(answer.id, 2, ["lost"])  # refused when it is sent
            with pytest.raises(StoreUnavailable, match="maxmemory"):
                await writer.finish(answer.id, Outcome("done", "stop"))
            await asyncio.wait_for(asyncio.gather(here.task, there.task), 10)
        finally:
            await raw.config_set("maxmemory", "0")
    # Readers on every process are told one end, which the store does not hold (no seq)...
    for following in (here, there):
        assert following.end is not None
        assert (following.end.outcome.error, following.end.kept, following.deltas) == (
            STORE_LOST,
            False,
            [(1, "kept")],
        )
    # ...and the writer, which kept the answer's lease, stores its end once Redis takes it:
    # every reader that reconnects, on any process, gets that one end, not a worker's death.
    await asyncio.sleep(1.0)  # the lease (0.6 s) would have lapsed had it not been renewed
    for store in (reader, writer):
        progress = await store.read(answer.id, 0)
        assert (progress.deltas, progress.status) == ([(1, "kept")], "error")
        assert progress.outcome.error is not None and progress.outcome.error.startswith(STORE_ERROR)
        assert "maxmemory" in progress.outcome.error


async def test_an_unreachable_redis_is_named_in_one_sentence() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreUnavailable, match=f"cannot reach the answer store at {url}"):
        await RedisAnswerStore.connect(url)


async def test_redis_going_away_is_told_and_its_return_serves_again() -> None:
    with start_redis() as server:
        store = await RedisAnswerStore.connect(server.url)
        answer = await store.create("alice", "q")
        await store.append(answer.id, 1, ["acknowledged"])
        following = Reader(store, answer.id)
        assert await until(lambda: following.deltas == [(1, "acknowledged")])
        server.pause()
        await asyncio.wait_for(following.task, 10)
        assert following.end is not None and following.end.outcome.error == STORE_LOST
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await store.create("alice", "while it is away")
        server.resume()
        assert (await store.read(answer.id, 0)).deltas[:1] == [(1, "acknowledged")]
        again = await store.create("alice", "after")
        later = Reader(store, again.id)
        await store.append(again.id, 1, ["back"])
        await store.finish(again.id, Outcome("done", "stop"))
        await asyncio.wait_for(later.task, 10)
        assert later.end is not None and later.end.outcome.status == "done"
        await store.close()


class LosesOneReply:
    """A TCP proxy to Redis that, once, passes on a command containing `marker` and then
    breaks the connection before its reply comes back: as a network failing at that moment."""

    def __init__(self, redis_port: int, marker: bytes) -> None:
        self._redis_port = redis_port
        self._marker = marker
        self.lost = 0

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self._redis_port)

        async def replies() -> None:
            while data := await redis_r.read(65536):
                client_w.write(data)

        relay = asyncio.create_task(replies())
        try:
            while data := await client_r.read(65536):
                if self._marker in data and not self.lost:
                    self.lost += 1
                    relay.cancel()  # before Redis can answer: its reply goes nowhere
                    with contextlib.suppress(asyncio.CancelledError):
                        await relay
                    redis_w.write(data)
                    await redis_r.read(1)  # Redis ran it and answered
                    break
                redis_w.write(data)
        finally:
            relay.cancel()
            for writer in (client_w, redis_w):
                writer.close()

    async def close(self) -> None:
        self._server.close()


async def test_an_append_retried_after_its_reply_was_lost_stores_nothing_twice(
    redis_server: RedisServer,
) -> None:
    proxy = LosesOneReply(redis_server.port, b"EVALSHA")
    store = await RedisAnswerStore.connect(await proxy.start())
    try:
        answer = await store.create("alice", "q")
        await store.append(answer.id, 1, ["Hel", "lo"])  # sent, run, its reply lost: sent again
        await store.append(answer.id, 3, ["!"])
        assert await store.finish(answer.id, Outcome("done", "stop"))
        assert proxy.lost == 1
        progress = await store.read(answer.id, 0)
        assert progress.deltas == [(1, "Hel"), (2, "lo"), (3, "!")]
        assert (progress.status, progress.outcome.error) == ("done", None)  # no false error end
    finally:
        await store.close()
        await proxy.close()


async def test_a_delta_stream_deleted_by_hand_leaves_no_hole_and_no_end_below_a_delta(
    redis_server: RedisServer, two: list[RedisAnswerStore]
) -> None:
    writer, reader = two
    answer = await writer.create("alice", "q")
    await writer.append(answer.id, 1, ["a", "b"])
    await writer.read(answer.id, 0)  # sent
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        await raw.delete(f"sse_lab:answer:{{{answer.id}}}:deltas")  # an operator's DEL
    await writer.append(answer.id, 3, ["c"])  # refused: deltas 1 and 2 are gone
    await writer.finish(answer.id, Outcome("done", "stop"))
    progress = await reader.read(answer.id, 0)
    assert progress.deltas == []  # nothing past the hole
    assert (progress.status, progress.last_seq) == ("error", 0)  # the end's seq: 1
    assert progress.outcome.error is not None and progress.outcome.error.startswith(STORE_ERROR)


async def test_a_finished_answer_is_read_from_a_redis_out_of_memory() -> None:
    with start_redis() as server, start_server(token_delay=0, store=server.url) as lab:
        async with aiohttp.ClientSession(headers=lab.auth_header()) as http:
            async with http.post(f"{lab.url}/new", json={"prompt": "hi"}) as response:
                stream_url = lab.url + (await response.json())["stream_url"]
            async with http.get(stream_url) as response:
                before = await read_events(response)
            assert before[-1].event == "done"
            async with aioredis.Redis.from_url(server.url) as raw:
                for n in range(4):  # 4 MiB of other data
                    await raw.set(f"filler:{n}", b"x" * 2**20)
            async with aioredis.Redis.from_url(server.url) as raw:  # then a limit below it
                used = int((await raw.info("memory"))["used_memory"])
                await raw.config_set("maxmemory-policy", "noeviction")
                await raw.config_set("maxmemory", str(used - 2**20))
                with pytest.raises(aioredis.ResponseError, match="maxmemory"):
                    await raw.set("one more", "x")  # full: writes fail
            async with http.get(stream_url) as response:
                assert response.status == 200
                assert await read_events(response) == before


async def test_an_outage_is_logged_once_per_burst_not_per_retry_or_answer(caplog) -> None:
    caplog.set_level(logging.INFO)
    with start_redis() as server, start_server(token_delay=0.05, store=server.url) as lab:
        async with aiohttp.ClientSession(headers=lab.auth_header()) as http:
            for _ in range(3):  # three answers whose ends cannot be stored
                async with http.post(f"{lab.url}/new", json={"prompt": "tell me more"}) as response:
                    assert response.status == 201
            server.pause()  # Redis refuses connections: every retry fails at once
            await asyncio.sleep(4)
            logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
            server.resume()
    messages = [r.getMessage() for r in logged]
    assert [r.exc_info for r in logged if r.exc_info] == []  # no traceback
    assert sum("answer ends" in m or "the end of answer" in m for m in messages) == 1, messages
    assert sum("listening for news" in m for m in messages) <= 1, messages

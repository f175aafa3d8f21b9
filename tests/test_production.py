"""Production's sharing, against the real services: several processes, one PostgreSQL, one Redis.

Each test stands in for two processes with two clients (two Redis connections, two database
engines): the send limits shared by two workers, the dedup fast path, wake-ups from a web
process to a worker, and two workers claiming the outbox with FOR UPDATE SKIP LOCKED.
`make soak` (bench/soak.py) does the same with real processes killed at random.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from redis.asyncio import Redis
from typer.testing import CliRunner

from bot import cli
from bot.engine import Engine, Start, TextReply
from bot.locks import (
    MemoryLocks,
    RedisLocks,
    RedisPacer,
    RedisRecentUpdates,
    RedisWakeups,
    moving_window,
)
from bot.service import Inbound, Outgoing, Sender, Tutor
from bot.settings import Settings
from bot.store import Database
from bot.store.db import POOL_SIZE
from bot.store.models import BULK_PRIORITY
from bot.store.scratch import execute
from bot.wiring import build
from bot.worker import OutboxWorker
from tests.conftest import FIXTURE_LESSONS, REDIS_URL, TABLES, Clock, connect_redis

pytestmark = pytest.mark.redis


async def second_client() -> Redis:
    """Another connection to the test Redis, as another process would have."""
    return Redis.from_url(REDIS_URL)


def most_in_window(times: list[float], seconds: float) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + seconds, lo=i) - i for i, t in enumerate(ordered)),
        default=0,
    )


# --- send limits shared by two workers ----------------------------------------------------


async def test_two_workers_share_the_bot_limit(redis: Redis) -> None:
    other = await second_client()
    try:
        pacers = [
            RedisPacer(client, "telegram", per_bot=20, per_chat=100) for client in (redis, other)
        ]
        for pacer in pacers:  # connected, and the limiter's scripts loaded
            await pacer.wait("warm-up")
        await redis.delete("camtay:pace:LIMITER/telegram/bot/20/1/second")
        times: list[float] = []

        async def sender(pacer: RedisPacer, chats: range) -> None:
            for chat in chats:
                await pacer.wait(chat)
                times.append(time.monotonic())

        # Two workers with four sends in flight each, 50 sends to 50 chats.
        started = time.monotonic()
        await asyncio.gather(*(sender(pacers[n % 2], range(n, 50, 8)) for n in range(8)))
        # Alone, each worker would send its 25 within a second; together they wait their turn.
        # (A send is recorded a little after its slot was counted: a 0.9-s window.)
        assert most_in_window(times, 0.9) <= 20
        assert time.monotonic() - started >= 1.9
    finally:
        await other.aclose()


async def test_two_workers_share_a_chats_limit(redis: Redis) -> None:
    other = await second_client()
    try:
        pacers = [RedisPacer(client, "telegram", per_chat=2, burst=2) for client in (redis, other)]
        for pacer in pacers:  # connected, and the limiter's scripts loaded
            await pacer.wait("warm-up")
        times: list[float] = []

        async def send(pacer: RedisPacer) -> None:
            await pacer.wait(42)
            times.append(time.monotonic())

        await asyncio.gather(*(send(pacers[n % 2]) for n in range(6)))
        times.sort()
        # 2 a second to chat 42, whichever worker sends: 2 now, 2 after 1 s, 2 after 2 s.
        assert all(later - earlier >= 0.8 for earlier, later in zip(times, times[2:], strict=False))
        assert times[-1] - times[0] >= 1.9
    finally:
        await other.aclose()


async def test_a_reply_overtakes_the_bulk_sends_waiting_in_its_worker(redis: Redis) -> None:
    pacer = RedisPacer(redis, "telegram", per_bot=20, per_chat=100)
    await pacer.wait("warm-up")  # connected, and the limiter's scripts loaded
    await redis.delete("camtay:pace:LIMITER/telegram/bot/19/1/second")
    order: list[str] = []
    window_full = asyncio.Event()

    async def send(name: str, *, bulk: bool) -> None:
        await pacer.wait(name, bulk=bulk)
        order.append(name)
        if len(order) == 19:
            window_full.set()

    # A broadcast fills the second's 19 sends; 11 more wait for the window, then a reply.
    broadcast = [asyncio.create_task(send(f"bulk{n}", bulk=True)) for n in range(30)]
    await asyncio.wait_for(window_full.wait(), 5)
    await send("reply", bulk=False)
    # It takes the next slot that frees, ahead of the 11 bulk sends waiting longer.
    assert order.index("reply") <= 20
    for task in broadcast:
        task.cancel()
    await asyncio.gather(*broadcast, return_exceptions=True)


async def test_sends_are_spaced_not_bunched_at_the_start_of_a_window(redis: Redis) -> None:
    pacer = RedisPacer(redis, "telegram", per_bot=40, per_chat=100)
    await pacer.wait("warm-up")
    await redis.delete("camtay:pace:LIMITER/telegram/bot/38/1/second")
    times: list[float] = []

    async def send(chat: int) -> None:
        await pacer.wait(chat, bulk=chat % 3 > 0)
        times.append(time.monotonic())

    await asyncio.gather(*(send(chat) for chat in range(30)))
    # A moving window alone lets all 30 go at once: spaced, one at a time, ≥ 1/44 s apart.
    assert most_in_window(times, 0.1) <= 6
    assert max(times) - min(times) >= 0.5


def test_rates_become_moving_windows_of_whole_seconds() -> None:
    assert (moving_window(30, 1).amount, moving_window(30, 1).multiples) == (30, 1)
    assert (moving_window(1, 3).amount, moving_window(1, 3).multiples) == (3, 3)
    assert (moving_window(0.5, 1).amount, moving_window(0.5, 1).multiples) == (1, 2)
    assert (moving_window(500, 3).amount, moving_window(500, 3).multiples) == (500, 1)


# --- the dedup fast path ------------------------------------------------------------------


class NoDatabase:
    """A database the fast path must not need: any unit of work fails the test."""

    dialect = "postgresql"

    def unit_of_work(self) -> None:
        raise AssertionError("a known redelivery reached the database")


async def test_a_redelivery_is_answered_from_redis(
    database: Database, engine: Engine, redis: Redis, clock: Clock
) -> None:
    def tutor(db: object) -> Tutor:
        return Tutor(
            engine=engine,
            database=db,  # type: ignore[arg-type]
            locks=MemoryLocks(),
            clock=clock,
            recent=RedisRecentUpdates(redis),
        )

    update = Inbound(channel="telegram", external_id="77", input=Start(), update_id="9001")
    first = await tutor(database).handle(update)
    assert not first.duplicate
    assert await redis.get("camtay:update:telegram:9001") == str(first.learner_id).encode()
    again = await tutor(NoDatabase()).handle(update)
    assert again.duplicate
    assert again.learner_id == first.learner_id


async def test_a_redelivery_is_answered_from_the_redis_lock_itself(
    database: Database, engine: Engine, redis: Redis, clock: Clock
) -> None:
    """Production's wiring: the fast path rides on the learner lock's round trips."""
    recent = RedisRecentUpdates(redis)

    def tutor(db: object) -> Tutor:
        return Tutor(
            engine=engine,
            database=db,  # type: ignore[arg-type]
            locks=RedisLocks(redis, recent=recent),
            clock=clock,
            recent=recent,
        )

    update = Inbound(channel="telegram", external_id="79", input=Start(), update_id="9003")
    first = await tutor(database).handle(update)
    assert not first.duplicate
    assert await recent.seen("telegram", "9003") == first.learner_id
    again = await tutor(NoDatabase()).handle(update)
    assert again.duplicate
    assert again.learner_id == first.learner_id


async def test_without_redis_the_database_still_catches_a_redelivery(
    database: Database, engine: Engine, clock: Clock
) -> None:
    gone = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    tutor = Tutor(
        engine=engine,
        database=database,
        locks=MemoryLocks(),
        clock=clock,
        recent=RedisRecentUpdates(gone),
    )
    update = Inbound(channel="telegram", external_id="78", input=Start(), update_id="9002")
    assert not (await tutor.handle(update)).duplicate
    assert (await tutor.handle(update)).duplicate
    await gone.aclose()


# --- PostgreSQL: two workers on one outbox ------------------------------------------------


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    asyncio.run(execute(postgres_url, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    return postgres_url


@dataclass
class Recorder:
    """A sender that records what it sent, optionally slowly or stuck on one message."""

    sent: list[tuple[str, int, str]] = field(default_factory=list)
    delay: float = 0.0
    stuck: Callable[[Outgoing], bool] = lambda _message: False
    stuck_on: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int) -> None:
        """Until `count` messages were sent."""
        while len(self.sent) < count:
            self.changed.clear()
            await self.changed.wait()

    def as_worker(self, name: str) -> _Named:
        return _Named(self, name)


@dataclass
class _Named:
    recorder: Recorder
    name: str

    async def send(self, message: Outgoing) -> None:
        if self.recorder.stuck(message):
            self.recorder.stuck_on.set()
            await asyncio.Event().wait()  # hangs until the worker is cancelled
        await asyncio.sleep(self.recorder.delay)
        self.recorder.sent.append((self.name, message.id, message.external_id))
        self.recorder.changed.set()


async def queue(database: Database, learners: int, each: int, clock: Clock) -> list[int]:
    """`each` pending messages for each of `learners` learners; their ids in order."""
    ids: list[int] = []
    async with database.unit_of_work() as uow:
        for n in range(learners):
            learner, _ = await uow.learners.get_or_create(
                channel="telegram", external_id=str(1000 + n), now=clock()
            )
            replies = [TextReply(text=f"{n}:{k}") for k in range(each)]
            ids += await uow.outbox.add(learner, replies, clock())
        await uow.commit()
    return ids


@pytest.fixture
async def two_databases(pg_url: str) -> AsyncIterator[tuple[Database, Database]]:
    first, second = Database(pg_url), Database(pg_url)
    yield first, second
    await first.dispose()
    await second.dispose()


def worker(database: Database, sender: Sender, clock: Clock, **options: object) -> OutboxWorker:
    return OutboxWorker(
        database=database,
        locks=MemoryLocks(),
        senders={"telegram": sender},
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.postgres
async def test_two_workers_send_everything_once_and_in_order(
    two_databases: tuple[Database, Database], clock: Clock
) -> None:
    a, b = two_databases
    ids = await queue(a, learners=30, each=5, clock=clock)
    recorder = Recorder(delay=0.002)
    workers = [
        worker(a, recorder.as_worker("a"), clock, concurrency=8),
        worker(b, recorder.as_worker("b"), clock, concurrency=8),
    ]
    assert all(w.claims for w in workers)
    stop = asyncio.Event()
    running = [asyncio.create_task(w.run(stop, idle=0.05)) for w in workers]
    async with asyncio.timeout(30):
        await recorder.wait_for(len(ids))
    await asyncio.sleep(0.2)  # time for a second send of anything, if there were one
    stop.set()
    await asyncio.gather(*running)
    sent_ids = [message_id for _, message_id, _ in recorder.sent]
    assert sorted(sent_ids) == ids  # each exactly once
    by_learner: dict[str, list[int]] = defaultdict(list)
    for _, message_id, chat in recorder.sent:
        by_learner[chat].append(message_id)
    assert all(sent == sorted(sent) for sent in by_learner.values())  # never overtaking
    assert {name for name, _, _ in recorder.sent} == {"a", "b"}  # both did their share
    async with a.unit_of_work() as uow:
        assert await uow.outbox.count("pending") == 0
        assert await uow.outbox.count("sent") == len(ids)


@pytest.mark.postgres
async def test_a_worker_leaves_room_in_its_pool_for_a_send_that_reads_the_database(
    pg_url: str, clock: Clock
) -> None:
    """A claim holds a connection while its message is sent, and sending a picture looks up
    its file id with a second one: a worker serves at most half as many learners at once as
    its pool has connections, so no claim waits for a connection that only a claim can free."""
    database = Database(pg_url, pool_size=4)
    try:
        ids = await queue(database, learners=10, each=2, clock=clock)
        recorder = Recorder()

        class LooksUp:
            async def send(self, message: Outgoing) -> None:
                async with database.unit_of_work() as uow:  # as a picture's file id is
                    await uow.media.get("telegram", "picture.png")
                await _Named(recorder, "w").send(message)

        sending = worker(database, LooksUp(), clock)
        assert sending.concurrency == 2
        stop = asyncio.Event()
        running = asyncio.create_task(sending.run(stop, idle=0.05))
        async with asyncio.timeout(20):  # a starved pool would wait 30 s, then fail
            await recorder.wait_for(len(ids))
        stop.set()
        await running
        assert sorted(message_id for _, message_id, _ in recorder.sent) == ids
    finally:
        await database.dispose()


@pytest.mark.postgres
def test_the_pool_size_setting_reaches_the_database_and_the_worker(pg_url: str) -> None:
    runtime = build(
        Settings(database_url=pg_url, database_pool_size=6, lessons_dir=FIXTURE_LESSONS)
    )
    assert runtime.database.pool_size == 6
    assert runtime.worker.concurrency == 3
    assert Settings().database_pool_size == POOL_SIZE  # the same default everywhere
    asyncio.run(runtime.close())


@pytest.mark.postgres
async def test_a_claimed_message_holds_back_the_learners_next_and_a_dead_claim_is_retaken(
    two_databases: tuple[Database, Database], clock: Clock
) -> None:
    a, b = two_databases
    first, second = await queue(a, learners=1, each=2, clock=clock)
    hanging = Recorder(stuck=lambda message: message.id == first)
    recorder = Recorder()
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        dying = asyncio.create_task(worker(a, hanging.as_worker("a"), clock).run(stop, idle=0.05))
        stack.callback(dying.cancel)
        await asyncio.wait_for(hanging.stuck_on.wait(), 5)
        # Worker a holds the first message: b may send neither it nor the one after it.
        other = worker(b, recorder.as_worker("b"), clock)
        assert await other.run_once() == 0
        assert recorder.sent == []
        # Worker a dies mid-send: its transaction ends, and b takes the message over.
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
        assert await other.run_once() == 2
    assert [message_id for _, message_id, _ in recorder.sent] == [first, second]


@pytest.mark.postgres
async def test_a_reply_goes_while_another_worker_is_stuck_on_the_learners_broadcast(
    two_databases: tuple[Database, Database], clock: Clock
) -> None:
    a, b = two_databases
    async with a.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(
            channel="telegram", external_id="7", now=clock()
        )
        (news,) = await uow.outbox.add(learner, [TextReply(text="news")], clock(), BULK_PRIORITY)
        await uow.commit()
    hanging = Recorder(stuck=lambda message: message.id == news)
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        # One look at the outbox, no more: each look locks the due rows for a moment (SKIP
        # LOCKED), which would hide the replies from worker b's single look below.
        dying = asyncio.create_task(worker(a, hanging.as_worker("a"), clock).run(stop, idle=30))
        stack.callback(dying.cancel)
        await asyncio.wait_for(hanging.stuck_on.wait(), 5)
        # Worker a holds the broadcast message; the learner asks something meanwhile.
        async with b.unit_of_work() as uow:
            asking = await uow.learners.get("telegram", "7")
            assert asking is not None
            answers = await uow.outbox.add(
                asking, [TextReply(text=f"a{n}") for n in range(3)], clock()
            )
            await uow.commit()
        recorder = Recorder()
        other = worker(b, recorder.as_worker("b"), clock)
        assert await other.run_once() == 3
        assert [message_id for _, message_id, _ in recorder.sent] == answers
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
        assert await other.run_once() == 1  # the broadcast message, retaken
    assert [message_id for _, message_id, _ in recorder.sent] == [*answers, news]


@pytest.mark.postgres
async def test_a_web_process_wakes_a_worker_in_another(
    pg_url: str, engine: Engine, clock: Clock
) -> None:
    redis_web, redis_worker = await connect_redis(), await second_client()
    web_db, worker_db = Database(pg_url), Database(pg_url)
    recorder = Recorder()
    # The worker looks at the outbox by itself only every 30 s: only a wake-up is that quick.
    sending = worker(worker_db, recorder.as_worker("w"), clock, wakeups=RedisWakeups(redis_worker))
    web_side = worker(web_db, recorder.as_worker("web"), clock, wakeups=RedisWakeups(redis_web))
    tutor = Tutor(engine=engine, database=web_db, locks=MemoryLocks(), clock=clock)
    stop = asyncio.Event()
    running = asyncio.create_task(sending.run(stop, idle=30))
    try:
        await asyncio.sleep(0.3)  # subscribed, and past its first look at the empty outbox
        result = await tutor.handle(
            Inbound(channel="telegram", external_id="5", input=Start(), update_id="1")
        )
        web_side.notify()  # what TelegramChannel's on_outbox does after the commit
        async with asyncio.timeout(3):
            await recorder.wait_for(len(result.outbox_ids))
        assert {name for name, _, _ in recorder.sent} == {"w"}
    finally:
        stop.set()
        await running
        assert isinstance(web_side.wakeups, RedisWakeups)
        await web_side.wakeups.close()
        await redis_web.aclose()
        await redis_worker.aclose()
        await web_db.dispose()
        await worker_db.dispose()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_web_process_collects_young_objects_less_often_and_a_worker_as_usual(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, int]] = []

    def instead(main: Any, *_arguments: Any, **_options: Any) -> None:
        seen.append(gc.get_threshold())
        if asyncio.iscoroutine(main):
            main.close()

    for name in [name for name in os.environ if name.startswith("CAMTAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setattr(uvicorn, "run", instead)
    monkeypatch.setattr(cli, "run_fast", instead)
    before = gc.get_threshold()
    env = {"CAMTAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'camtay.db'}"}
    try:
        result = CliRunner().invoke(cli.app, [command], env=env)
    finally:
        gc.set_threshold(*before)
    assert result.exit_code == 0, result.output
    young = cli.YOUNG_COLLECTION_EVERY if command == "serve" else before[0]
    assert seen == [(young, before[1], before[2])]
    assert before[0] < cli.YOUNG_COLLECTION_EVERY

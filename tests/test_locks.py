"""One suite for every per-learner lock: in-process (embedded) and Redis (shared by processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.locks import LearnerLocks, LockTimeout, MemoryLocks, RedisLocks, RedisRecentUpdates
from tests.conftest import connect_redis


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def locks(request: pytest.FixtureRequest) -> AsyncIterator[LearnerLocks]:
    if request.param == "memory":
        yield MemoryLocks(timeout=0.5)
        return
    redis_locks = RedisLocks(await connect_redis(), timeout=0.5, expire=5)
    yield redis_locks
    await redis_locks.close()


async def test_one_holder_at_a_time_per_key(locks: LearnerLocks) -> None:
    inside = 0
    most = 0

    async def turn() -> None:
        nonlocal inside, most
        async with locks.hold("web:1"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(turn() for _ in range(10)))
    assert most == 1


async def test_different_learners_do_not_wait_for_each_other(locks: LearnerLocks) -> None:
    entered = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("web:a"):
            entered.set()
            await asyncio.sleep(0.2)

    task = asyncio.create_task(holder())
    await entered.wait()
    async with asyncio.timeout(0.15), locks.hold("web:b"):
        pass
    await task


async def test_a_busy_lock_times_out(locks: LearnerLocks) -> None:
    async with locks.hold("web:c"):
        with pytest.raises(LockTimeout):
            async with locks.hold("web:c"):
                pass
    async with locks.hold("web:c"):  # released after the block, even after a timeout
        pass


async def test_an_error_inside_releases_the_lock(locks: LearnerLocks) -> None:
    with pytest.raises(ValueError, match="boom"):
        async with locks.hold("web:d"):
            raise ValueError("boom")
    async with locks.hold("web:d"):
        pass


async def test_memory_locks_forget_unused_keys() -> None:
    locks = MemoryLocks()
    async with locks.hold("web:e"):
        assert len(locks) == 1
    assert len(locks) == 0


# --- Redis only: expiry, keeping, and the dedup fast path on the lock's round trips ----------


@pytest.mark.redis
async def test_a_redis_lock_is_kept_while_held_and_a_dead_holders_lock_expires() -> None:
    redis = await connect_redis()
    locks = RedisLocks(redis, timeout=0.2, expire=0.3)
    try:
        async with locks.hold("web:kept"):
            await asyncio.sleep(0.8)  # well past `expire`: kept alive meanwhile
            with pytest.raises(LockTimeout):
                async with locks.hold("web:kept"):
                    pass
        # A process killed while holding a lock leaves its key behind, with its expiry.
        await redis.set("camtay:lock:web:dead", "a dead process's token", px=300)
        async with asyncio.timeout(1.0):
            waiting = RedisLocks(redis, timeout=1.0, expire=0.3)
            async with waiting.hold("web:dead"):
                pass
    finally:
        await locks.close()


@pytest.mark.redis
async def test_freeing_an_expired_redis_lock_leaves_the_next_holders_alone() -> None:
    redis = await connect_redis()
    locks = RedisLocks(redis, timeout=0.5, expire=0.2)
    try:
        async with locks.hold("web:late"):
            # Redis lost our lock (say it restarted), and another process took it.
            await redis.set("camtay:lock:web:late", "the next holder", px=5000)
        assert await redis.get("camtay:lock:web:late") == b"the next holder"
    finally:
        await locks.close()


@pytest.mark.redis
async def test_the_dedup_fast_path_rides_on_the_redis_lock() -> None:
    redis = await connect_redis()
    recent = RedisRecentUpdates(redis)
    locks = RedisLocks(redis, timeout=0.5, recent=recent)
    try:
        async with locks.hold("telegram:5", update=("telegram", "500")) as hold:
            assert hold.peeked  # read as the lock was taken
            assert hold.known is None
            hold.applied = 42
        # Remembered as the lock was freed, for as long as the fast path keeps updates.
        assert await recent.seen("telegram", "500") == 42
        assert 3590 < await redis.ttl(recent.key("telegram", "500")) <= 3600
        assert await redis.get("camtay:lock:telegram:5") is None
        async with locks.hold("telegram:5", update=("telegram", "500")) as again:
            assert again.known == 42
        async with locks.hold("telegram:5", update=("telegram", "501")):
            pass  # not applied (say, the turn failed): nothing is remembered
        assert await recent.seen("telegram", "501") is None
        async with locks.hold("telegram:5") as plain:  # no update: nothing to peek
            assert not plain.peeked
    finally:
        await locks.close()


async def test_memory_locks_leave_the_fast_path_to_its_own_store() -> None:
    async with MemoryLocks().hold("web:f", update=("web", "1")) as hold:
        assert not hold.peeked
        assert hold.known is None

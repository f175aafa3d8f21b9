"""One suite for every per-learner lock: in-process (embedded) and Redis (shared by processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.locks import LearnerLocks, LockTimeout, MemoryLocks, RedisLocks
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

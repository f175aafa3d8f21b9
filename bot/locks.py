"""Per-learner locks: one update at a time for each learner, in order, across every process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import LockError


class LockTimeout(Exception):
    """The learner's lock was not free in time; the platform will redeliver the update."""


class LearnerLocks(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock named `key` for the duration of the `async with` block."""
        ...

    async def close(self) -> None: ...


class MemoryLocks:
    """asyncio locks for one process (the embedded default); unused locks are dropped."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self.timeout)
            except TimeoutError as error:
                raise LockTimeout(key) from error
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)

    async def close(self) -> None:
        self._locks.clear()


class RedisLocks:
    """redis-py's Lock, shared by every web process and worker; expires if a holder dies."""

    def __init__(self, redis: Redis, timeout: float = 10.0, expire: float = 30.0) -> None:
        self.redis = redis
        self.timeout = timeout
        self.expire = expire

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        # A short poll interval: a learner's second tap should wait milliseconds, not 100 ms.
        lock = self.redis.lock(
            f"camtay:lock:{key}", timeout=self.expire, sleep=0.01, blocking_timeout=self.timeout
        )
        if not await lock.acquire():
            raise LockTimeout(key)
        try:
            yield
        finally:
            # LockError: it expired while held (the turn outlived `expire`); nothing to release.
            with suppress(LockError):
                await lock.release()

    async def close(self) -> None:
        await self.redis.aclose()

"""What processes share: per-learner locks, send pacing, recent updates and wake-ups.

The embedded default (one process, no Redis) keeps them in memory. In production every web
process and worker shares them through Redis, and nothing else but PostgreSQL:

- `RedisLocks`: one update at a time for each learner, across processes.
- `RedisPacer`: the platforms' send rates (per chat, per bot), counted once for every worker,
  with the `limits` library's moving windows kept in Redis.
- `RedisRecentUpdates`: the dedup fast path; the database's dedup row stays the authority.
- `RedisWakeups`: a web process that queued replies wakes the workers (Redis pub/sub); a worker
  that misses one (say, while Redis restarts) still looks at the outbox every second.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Protocol

from aiolimiter import AsyncLimiter
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.channels.pacing import Slots, bot_rate
from bot.observability import LOCK_WAIT_SECONDS

log = logging.getLogger(__name__)


class LockTimeout(Exception):
    """The learner's lock was not free in time; the platform will redeliver the update."""


@dataclass
class Hold:
    """A held learner lock, and the dedup fast path's part in it.

    A lock that rides with the fast path (`RedisLocks` given `recent`) reads the update's entry
    in the round trip that takes the lock (`peeked`, `known`: the learner it was applied for),
    and remembers `applied` (set by the holder after commit) in the round trip that frees it.
    Otherwise the holder asks `RecentUpdates` itself.
    """

    peeked: bool = False
    known: int | None = None
    applied: int | None = None


class LearnerLocks(Protocol):
    def hold(
        self, key: str, *, update: tuple[str, str] | None = None
    ) -> AbstractAsyncContextManager[Hold]:
        """Hold the lock named `key` for the duration of the `async with` block; `update`
        (channel, update id): the update the holder applies, for the dedup fast path."""
        ...

    async def close(self) -> None: ...


class MemoryLocks:
    """asyncio locks for one process (the embedded default); unused locks are dropped."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str, *, update: tuple[str, str] | None = None) -> AsyncIterator[Hold]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            started = time.perf_counter()
            try:
                await asyncio.wait_for(lock.acquire(), self.timeout)
            except TimeoutError as error:
                raise LockTimeout(key) from error
            finally:
                LOCK_WAIT_SECONDS.observe(time.perf_counter() - started)
            try:
                yield Hold()
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


# Take the lock if it is free, and then read the update's dedup entry: one command (a script
# costs the client less than a pipeline of two).
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('get', KEYS[2])}
end
return {0, false}
"""
# Free the lock if it is still ours; and, given one, remember an applied update for a while.
_RELEASE = """
if KEYS[2] then redis.call('set', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Keep the lock for `expire` more milliseconds, if it is still ours.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class RedisLocks:
    """A lock in Redis per learner, shared by every web process and worker.

    Redis's single-instance lock: SET the key to a random token with NX and an expiry, delete it
    only if it still holds our token (a script, so no one else's lock is deleted). A holder
    keeps its lock alive (every `expire` / 3 s) for as long as it works, so a long turn keeps it
    while a dead process's lock expires within `expire` seconds: a learner whose web process
    was killed mid-turn waits seconds, not half a minute. While waiting for a lock it polls with
    a backoff from 5 ms to 200 ms.

    With `recent`, the dedup fast path rides on the lock's round trips (`Hold`): a turn costs
    Redis two round trips for both, not four.
    """

    def __init__(
        self,
        redis: Redis,
        timeout: float = 10.0,
        expire: float = 5.0,
        *,
        recent: RedisRecentUpdates | None = None,
    ) -> None:
        self.redis = redis
        self.timeout = timeout
        self.expire = expire
        self._expire_ms = int(expire * 1000)
        self.recent = recent
        self._take = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._extend = redis.register_script(_EXTEND)

    @asynccontextmanager
    async def hold(self, key: str, *, update: tuple[str, str] | None = None) -> AsyncIterator[Hold]:
        name = f"camtay:lock:{key}"
        token = secrets.token_hex(10)
        entry = None if update is None or self.recent is None else self.recent.key(*update)
        started = time.perf_counter()
        try:
            held = await self._acquire(name, token, entry)
        finally:
            LOCK_WAIT_SECONDS.observe(time.perf_counter() - started)
        if held is None:
            raise LockTimeout(key)
        keeping: list[asyncio.Task[None]] = []
        # Most turns end long before the lock needs extending: a timer, not a task, until then.
        timer = asyncio.get_running_loop().call_later(
            self.expire / 3,
            lambda: keeping.append(asyncio.create_task(self._keep(name, token))),
        )
        try:
            yield held
        finally:
            timer.cancel()
            for task in keeping:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await self._free(name, token, entry, held.applied)

    async def _acquire(self, name: str, token: str, entry: str | None) -> Hold | None:
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            if entry is None:
                if await self.redis.set(name, token, nx=True, px=self._expire_ms):
                    return Hold()
            else:
                acquired, known = await self._take(
                    keys=[name, entry], args=[token, self._expire_ms]
                )
                if acquired:
                    return Hold(peeked=True, known=None if known is None else int(known))
            now = time.monotonic()
            if now >= deadline:
                return None
            # Backing off from 5 ms (a quick second tap waits about one turn) to 200 ms (a
            # dead holder), with jitter: under overload, many waiters must not poll Redis in
            # step, nor often.
            await asyncio.sleep(min(pause * (0.5 + random.random()), deadline - now))  # noqa: S311
            pause = min(pause * 2, 0.2)

    async def _free(self, name: str, token: str, entry: str | None, applied: int | None) -> None:
        keys: list[str] = [name]
        arguments: list[str | int] = [token]
        if entry is not None and applied is not None and self.recent is not None:
            keys.append(entry)
            arguments += [applied, self.recent.ttl]
        try:
            await self._release(keys=keys, args=arguments)
        except RedisError as error:
            # Redis restarted meanwhile: the lock went with it (and the update is not
            # remembered: a redelivery reaches the database, which knows it).
            log.warning("could not free the lock %s: %s", name, error)

    async def _keep(self, name: str, token: str) -> None:
        while True:
            try:
                if not await self._extend(keys=[name], args=[token, self._expire_ms]):
                    log.warning("lost the lock %s while holding it: it expired", name)
                    return
            except RedisError as error:
                log.warning("lost the lock %s while holding it: %s", name, error)
                return
            await asyncio.sleep(self.expire / 3)

    async def close(self) -> None:
        await self.redis.aclose()


# --- send pacing ------------------------------------------------------------------------------


class Pace(Protocol):
    """Return when one more message may go to `chat` (a channel's sender calls it per send);
    a `bulk` one (a broadcast, a reminder) after the replies waiting for the same limit."""

    async def wait(self, chat: Hashable, *, bulk: bool = False) -> None: ...


def moving_window(rate: float, burst: int) -> RateLimitItemPerSecond:
    """`rate` a second with bursts of `burst`, as a moving window of whole seconds: at most
    `burst` (or `rate` × the window, if more) in any window of ⌈burst / rate⌉ seconds."""
    seconds = max(1, math.ceil(burst / rate))
    return RateLimitItemPerSecond(max(burst, math.floor(rate * seconds)), seconds)


class RedisPacer:
    """A channel's send rates shared by every worker: one moving window per chat and one for
    the whole bot, kept in Redis by `limits` (its Lua scripts check and count atomically).

    With Telegram's defaults: at most 29 sends in any second for the bot (`BOT_SHARE` of 30:
    Telegram counts by arrival, and sends bunch up a little on the way), at most 3 in any
    3 seconds to one chat. In each process, one task at a time asks for the bot's window,
    replies first (`Slots`), and its tries are spaced (aiolimiter: never two at once): a moving
    window alone lets a whole second's worth go at once, say after a stall, and keeps that
    bunch in step every second after. Waiting is the only thing done
    here: when a window is full, sleep until its oldest send leaves it, then ask again.
    """

    def __init__(
        self,
        redis: Redis,
        channel: str,
        *,
        per_bot: float = 30,
        per_chat: float = 1,
        burst: int = 3,
        poll: float = 0.005,
    ) -> None:
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type] # limits types options narrowly
            key_prefix="camtay:pace",
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._bot = moving_window(bot_rate(per_bot), 1)
        self._chat = moving_window(per_chat, burst)
        # Never two at once: at least 1 / (1.1 × per_bot) s apart. (Faster than the window, so
        # a late wake-up is made up for; but a bucket of one, so that the window's full second
        # does not fill it with two sends that then go together, second after second.)
        self._spacing = AsyncLimiter(1, 1 / (1.1 * per_bot))
        self._slots = Slots(self._take_bot)
        self._full = False
        self._channel = channel
        self._poll = poll

    async def wait(self, chat: Hashable, *, bulk: bool = False) -> None:
        await self._take(self._chat, self._channel, "chat", str(chat))
        await self._slots.wait(bulk=bulk)

    async def _take_bot(self) -> None:
        """One slot in the bot's window, spaced from the last one this process took."""
        if self._full:  # it was full last time: a try now would likely be wasted
            await self._sleep_until_free(self._bot, self._channel, "bot")
        await self._spacing.acquire()
        self._full = not await self._limiter.hit(self._bot, self._channel, "bot")
        if self._full:
            await self._take(self._bot, self._channel, "bot")

    async def _take(self, item: RateLimitItemPerSecond, *key: str) -> None:
        while not await self._limiter.hit(item, *key):
            await self._sleep_until_free(item, *key)

    async def _sleep_until_free(self, item: RateLimitItemPerSecond, *key: str) -> None:
        stats = await self._limiter.get_window_stats(item, *key)
        if stats.remaining > 0:  # one left meanwhile
            return
        # Several workers may wake for the same free slot: only one gets it, the others
        # sleep again.
        await asyncio.sleep(max(self._poll, stats.reset_time - time.time()))


# --- recent updates: the dedup fast path ------------------------------------------------------


class RecentUpdates(Protocol):
    """Update ids applied lately, with their learner: a redelivery needs no database."""

    async def seen(self, channel: str, update_id: str) -> int | None:
        """The learner the update was applied for, if it is known to be applied."""
        ...

    async def remember(self, channel: str, update_id: str, learner_id: int) -> None: ...

    async def forget(self, accounts: Sequence[tuple[str, str]], ids: Sequence[int]) -> None:
        """Drop every key that names these erased accounts (/forget)."""
        ...


class NoRecentUpdates:
    """The embedded default: the database's dedup table alone answers."""

    async def seen(self, channel: str, update_id: str) -> int | None:
        return None

    async def remember(self, channel: str, update_id: str, learner_id: int) -> None:
        return None

    async def forget(self, accounts: Sequence[tuple[str, str]], ids: Sequence[int]) -> None:
        return None


class RedisRecentUpdates:
    """Applied update ids in Redis for `ttl` seconds. Only a hint: an update is remembered
    after its transaction committed, and a Redis error is an unknown (the database decides)."""

    def __init__(self, redis: Redis, ttl: int = 3600) -> None:
        self.redis = redis
        self.ttl = ttl

    @staticmethod
    def key(channel: str, update_id: str) -> str:
        return f"camtay:update:{channel}:{update_id}"

    async def seen(self, channel: str, update_id: str) -> int | None:
        try:
            value = await self.redis.get(self.key(channel, update_id))
        except RedisError as error:
            log.warning("dedup fast path unavailable: %s", error)
            return None
        return None if value is None else int(value)

    async def remember(self, channel: str, update_id: str, learner_id: int) -> None:
        try:
            await self.redis.set(self.key(channel, update_id), learner_id, ex=self.ttl)
        except RedisError as error:
            log.warning("could not remember update %s/%s: %s", channel, update_id, error)

    async def forget(self, accounts: Sequence[tuple[str, str]], ids: Sequence[int]) -> None:
        from bot.privacy import forget_keys  # erasure is rare; keep this module light

        try:
            await forget_keys(self.redis, accounts, ids)
        except RedisError as error:  # the remembered updates expire within the hour anyway
            log.warning("could not drop an erased learner's keys: %s", error)


# --- wake-ups -----------------------------------------------------------------------------------


class RedisWakeups:
    """Wake the workers of every process when replies were queued: Redis pub/sub.

    `notify` never blocks and never fails: it marks a wake-up due, and one task publishes it
    (bursts of turns make one message). `listen` calls `wake` for every message received,
    resubscribing after an error.
    """

    TOPIC = "camtay:outbox"

    def __init__(self, redis: Redis, retry: float = 0.5) -> None:
        self.redis = redis
        self.retry = retry
        self._due = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None

    def notify(self) -> None:
        self._due.set()
        if self._publisher is None or self._publisher.done():
            try:
                self._publisher = asyncio.get_running_loop().create_task(self._publish())
            except RuntimeError:  # no event loop: nothing is running to be woken either
                return

    async def _publish(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await self.redis.publish(self.TOPIC, b"1")
            except RedisError as error:
                log.warning("could not wake the workers: %s", error)
                await asyncio.sleep(self.retry)

    async def listen(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call `wake` on every wake-up until `stop` is set."""
        while not stop.is_set():
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.TOPIC)
                    wake()  # anything published while we were not listening
                    while not stop.is_set():
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None:
                            wake()
            except (RedisError, OSError) as error:
                log.warning("wake-ups unavailable (%s); retrying", error)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry)

    async def close(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with suppress(asyncio.CancelledError):
                await self._publisher

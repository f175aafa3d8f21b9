"""Flood limits: how many inputs one learner, and how many admin requests one address, may send.

Both count with the `limits` library's moving windows: in process memory on the embedded
default, in Redis when CAMTAY_REDIS_URL is set, so every web process counts against the same
window. A storage that fails (Redis restarting) lets requests through: the limits protect
capacity, and refusing every learner while Redis is away would hurt more than a flood.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.engine import TextReply
from bot.service import TurnResult

if TYPE_CHECKING:
    from bot.service import Inbound, Tutor

log = logging.getLogger(__name__)

FLOODED = Counter(
    "camtay_flood_total",
    "Inputs over a learner's flood limit: warned (one 'slow down' reply) or dropped",
    ["channel", "action"],
)
ADMIN_LIMITED = Counter(
    "camtay_admin_rate_limited_total",
    "Admin requests refused with 429 by the per-address limit",
    ["kind"],
)

Verdict = Literal["ok", "warn", "drop"]

SLOW_DOWN = {
    "vi": "Bạn gửi nhanh quá 🙂 Mình cần chút thời gian. Bạn chờ khoảng một phút rồi gửi tiếp "
    "nhé, mình vẫn ở đây.",
    "en": "You are sending messages very quickly 🙂 Please wait about a minute, then carry on: "
    "I am still here.",
}
"""The one reply to a flood, in the learner's language (Vietnamese when unknown)."""


def limits_storage(redis: Redis | None, prefix: str) -> Storage:
    """Process memory alone; with Redis, the shared client's pool (as RedisPacer does)."""
    if redis is None:
        return MemoryStorage()
    return RedisStorage(
        "async+redis://",
        implementation="redispy",
        connection_pool=redis.connection_pool,  # type: ignore[arg-type] # limits types options narrowly
        key_prefix=prefix,
    )


class FloodGate:
    """At most `per_minute` inputs in any minute from one account of one channel.

    The first input over the limit is answered once with a kind "slow down" (`warn`); the
    others inside the window are dropped (`drop`). The "already warned" mark is a second
    moving window of one per minute in the same storage, so it is shared like the count.
    """

    def __init__(self, storage: Storage, per_minute: int = 30) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._inputs = RateLimitItemPerMinute(per_minute)
        self._warning = RateLimitItemPerMinute(1)
        self.per_minute = per_minute

    async def check(self, channel: str, account: str) -> Verdict:
        try:
            if await self._limiter.hit(self._inputs, "in", channel, account):
                return "ok"
            warn = await self._limiter.hit(self._warning, "warned", channel, account)
        except (RedisError, OSError) as error:
            log.warning("flood limit unavailable, input let through: %s", str(error)[:200])
            return "ok"
        verdict: Verdict = "warn" if warn else "drop"
        FLOODED.labels(channel, verdict).inc()
        log.info(
            "flood: %s input from %s/%s (over %s a minute)",
            verdict,
            channel,
            account[:16],
            self.per_minute,
        )
        return verdict

    async def slow_down(self, tutor: Tutor, inbound: Inbound) -> TurnResult:
        """Queue the one "slow down" reply (the caller holds the learner's lock); nothing else
        of the input is read or applied. An account never seen before gets nothing."""
        now = tutor.clock()
        async with tutor.database.unit_of_work() as uow:
            learner = await uow.learners.get(inbound.channel, inbound.external_id)
            if learner is None:
                return TurnResult(learner_id=0, duplicate=True)
            text = SLOW_DOWN.get(learner.locale, SLOW_DOWN["vi"])
            ids = await uow.outbox.add(learner, [TextReply(text=text)], now)
            await uow.commit()
        return TurnResult(learner_id=learner.id, duplicate=False, outbox_ids=tuple(ids))


@dataclass(frozen=True)
class Refusal:
    """Too many requests: wait `retry_after` whole seconds."""

    retry_after: int


class AddressLimits:
    """Admin requests per client address: `per_minute` in all, `logins_per_minute` sign-ins."""

    def __init__(
        self, storage: Storage, per_minute: int = 300, logins_per_minute: int = 10
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._all = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self._logins = RateLimitItemPerMinute(logins_per_minute) if logins_per_minute > 0 else None

    async def check(self, address: str, *, login: bool) -> Refusal | None:
        """None when the request may go on; else how long to wait."""
        chosen = [(self._all, "admin")]
        if login:
            chosen.append((self._logins, "login"))
        try:
            for item, kind in chosen:
                if item is None or await self._limiter.hit(item, kind, address):
                    continue
                stats = await self._limiter.get_window_stats(item, kind, address)
                ADMIN_LIMITED.labels(kind).inc()
                log.warning("admin rate limit (%s) reached for %s", kind, address)
                return Refusal(max(1, math.ceil(stats.reset_time - time.time())))
        except (RedisError, OSError) as error:
            log.warning("admin rate limit unavailable, request let through: %s", str(error)[:200])
        return None

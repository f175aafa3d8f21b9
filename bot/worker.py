"""The outbound worker: sends from the outbox after commit, in order, within platform limits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Literal, Protocol

from bot.locks import LearnerLocks, LockTimeout
from bot.observability import SENDS
from bot.outages import log_failure
from bot.service import Held, Outgoing, RetryAfter, Sender, Unreachable, utcnow
from bot.store import Database, UnitOfWork

log = logging.getLogger(__name__)

Result = Literal["sent", "retry", "held", "unreachable", "failed", "rate_limited"]
"""What became of one attempt (the `result` label of camtay_sends_total)."""


class Wakeups(Protocol):
    """Wake-ups shared by processes (bot.locks.RedisWakeups)."""

    def notify(self) -> None: ...

    async def listen(self, wake: Callable[[], None], stop: asyncio.Event) -> None: ...


def claims_at_once(pool_size: int) -> int:
    """Learners a worker on PostgreSQL serves at once, each with a claim in flight.

    A claim holds a pooled connection while it sends, and a picture's send looks up its file id
    with another: at most half the pool, so every claim can get its second.
    """
    return min(12, max(1, pool_size // 2))


class OutboxWorker:
    """Drains pending messages of push channels (Telegram, Zalo) through their senders.

    A learner's replies go strictly in order, one at a time, and before their bulk messages
    (broadcasts, reminders): a reply never waits behind a bulk message queued before it, and a
    bulk message waits for every older message. Across learners, replies go first too.
    A 429 pauses the whole bot; a blocked learner's messages are cancelled; other failures retry
    with backoff, then fail.

    On PostgreSQL any number of workers share the outbox: a message is claimed with
    `SELECT … FOR UPDATE SKIP LOCKED`, and only the oldest pending message of a learner's lane
    can be claimed, so whichever worker sends them, the order above holds. The claim
    lasts one transaction: send, mark sent, commit. A worker that dies mid-send loses its
    connection, PostgreSQL drops the claim, and another worker sends that message again — the
    one message in flight, the only one a crash can send twice. On SQLite (one process) a
    learner's lock and the worker's own bookkeeping do the same.
    """

    def __init__(
        self,
        *,
        database: Database,
        locks: LearnerLocks,
        senders: Mapping[str, Sender],
        clock: Callable[[], datetime] = utcnow,
        max_attempts: int = 6,
        base_delay: float = 2.0,
        batch: int = 100,
        concurrency: int | None = None,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.database = database
        self.locks = locks
        self.senders = dict(senders)
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.batch = batch
        self.claims = database.dialect == "postgresql"
        """Claim messages in the database (PostgreSQL) rather than under a learner's lock."""
        self.concurrency = concurrency or (
            claims_at_once(database.pool_size) if self.claims else 32
        )
        self.wakeups = wakeups
        self.wakeup = asyncio.Event()
        self._paused_until: dict[str, float] = {}

    def paused(self, channel: str) -> float:
        """Seconds left before `channel` may send again (0 when it may)."""
        return max(0.0, self._paused_until.get(channel, 0.0) - time.monotonic())

    def notify(self) -> None:
        """Something was added to the outbox: look now rather than at the next tick (and, with
        Redis, tell the workers of the other processes)."""
        self.wakeup.set()
        if self.wakeups is not None:
            self.wakeups.notify()

    async def run_once(self) -> int:
        """Send what is due now; return how many messages went out."""
        learners = await self._due(self.batch)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(learner_id: int, channel: str, external_id: str) -> int:
            async with gate:
                return await self._deliver(learner_id, channel, external_id)

        sent = await asyncio.gather(*(one(*learner) for learner in learners))
        return sum(sent)

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Keep sending until `stop` is set.

        Up to `concurrency` learners are served at once; as soon as one is done another is
        started, so a learner with many messages (paced at 1/s) never holds up the rest.
        """
        active: dict[int, asyncio.Task[int]] = {}
        listening = (
            asyncio.create_task(self.wakeups.listen(self.wakeup.set, stop), name="wake-ups")
            if self.wakeups is not None
            else None
        )
        try:
            while not stop.is_set():
                self.wakeup.clear()
                try:
                    await self._top_up(active)
                except Exception as error:  # the loop must outlive a database hiccup
                    log_failure(log, "outbox worker could not read the outbox", error)
                signals = [
                    asyncio.ensure_future(self.wakeup.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                pause = min((self.paused(channel) for channel in self.senders), default=0.0)
                await asyncio.wait(
                    [*signals, *active.values()],
                    timeout=max(idle, pause),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for signal in signals:
                    signal.cancel()
                for learner_id, task in list(active.items()):
                    if task.done():
                        del active[learner_id]
                        if not task.cancelled() and task.exception() is not None:
                            log.error("delivery failed", exc_info=task.exception())
        except asyncio.CancelledError:
            for task in active.values():  # cancelled, not stopped: claims are rolled back
                task.cancel()
            raise
        finally:
            if active:
                await asyncio.gather(*active.values(), return_exceptions=True)
            if listening is not None:
                listening.cancel()
                with suppress(asyncio.CancelledError):
                    await listening

    async def _due(self, limit: int) -> list[tuple[int, str, str]]:
        """Learners with a message to send now: (learner id, channel, external id)."""
        channels = [channel for channel in self.senders if not self.paused(channel)]
        if not channels:
            return []
        async with self.database.unit_of_work() as uow:
            if self.claims:
                # Learners whose next message another worker is sending right now are skipped.
                return await uow.outbox.due_heads(channels, self.clock(), limit)
            return await uow.outbox.due_learners(channels, self.clock(), limit)

    async def _top_up(self, active: dict[int, asyncio.Task[int]]) -> None:
        """Start serving more learners with due messages, up to `concurrency` at once."""
        room = self.concurrency - len(active)
        if room <= 0:
            return
        for learner_id, channel, external_id in await self._due(room + len(active)):
            if learner_id not in active and len(active) < self.concurrency:
                active[learner_id] = asyncio.create_task(
                    self._deliver(learner_id, channel, external_id)
                )

    async def _deliver(self, learner_id: int, channel: str, external_id: str) -> int:
        if self.claims:
            return await self._deliver_claimed(learner_id, channel)
        try:
            async with self.locks.hold(f"send:{channel}:{external_id}"):
                return await self._deliver_locked(learner_id, channel)
        except LockTimeout:
            return 0  # another worker is sending to this learner right now

    async def _deliver_claimed(self, learner_id: int, channel: str) -> int:
        """Claim a learner's next message, send it, record the result, commit; again."""
        sent = 0
        while not self.paused(channel):
            async with self.database.unit_of_work() as uow:
                row = await uow.outbox.claim_next(learner_id, self.clock())
                if row is None:
                    return sent  # nothing due, or another worker holds their next message
                message, attempts = Outgoing.from_row(row), row.attempts
                result = await self._record(uow, message, attempts, await self._attempt(message))
                await uow.commit()  # the sooner, the smaller the window for a resend
            if result == "sent":
                sent += 1
            elif result != "held":
                break
        return sent

    async def _deliver_locked(self, learner_id: int, channel: str) -> int:
        async with self.database.unit_of_work() as uow:
            rows = await uow.outbox.due(learner_id, self.clock())
            messages = [(Outgoing.from_row(row), row.attempts) for row in rows]
        sent = 0
        for message, attempts in messages:
            if self.paused(channel):
                break
            attempt = await self._attempt(message)
            async with self.database.unit_of_work() as uow:
                # One message at a time, so a crash can resend at most the one in flight.
                result = await self._record(uow, message, attempts, attempt)
                await uow.commit()
            if result == "sent":
                sent += 1
            elif result != "held":
                break
        return sent

    async def _attempt(self, message: Outgoing) -> tuple[Result, Exception | None]:
        """Send one message; what happened, and the error if it was not sent."""
        try:
            await self.senders[message.channel].send(message)
        except RetryAfter as error:
            self._paused_until[message.channel] = time.monotonic() + error.seconds
            log.warning(
                "%s asks to wait %s s; pausing the whole bot", message.channel, error.seconds
            )
            return "rate_limited", error
        except Unreachable as error:
            return "unreachable", error
        except Held as error:
            return "held", error
        except Exception as error:  # network, server, or a bug in rendering
            return "retry", error
        return "sent", None

    async def _record(
        self,
        uow: UnitOfWork,
        message: Outgoing,
        attempts: int,
        attempt: tuple[Result, Exception | None],
    ) -> Result:
        """Write what became of the message into `uow` (the caller commits)."""
        result, error = attempt
        if result == "sent":
            await uow.outbox.mark_sent([message.id], self.clock())
        elif result == "held":
            await uow.outbox.hold(message.id, str(error))
            log.info("outbox message %s held: %s", message.id, error)
        elif result == "unreachable":
            await self._unreachable(uow, message, str(error))
        elif result == "retry":
            assert error is not None  # noqa: S101 -- a retry comes from an error
            result = await self._failed(uow, message, attempts + 1, error)
        SENDS.labels(message.channel, result).inc()
        return result

    async def _unreachable(self, uow: UnitOfWork, message: Outgoing, reason: str) -> None:
        await uow.learners.set_unreachable(message.channel, message.external_id, self.clock())
        learner = await uow.learners.get(message.channel, message.external_id)
        cancelled = await uow.outbox.cancel_pending(learner.id, reason) if learner else 0
        log.info(
            "learner %s/%s unreachable (%s); %d messages cancelled",
            message.channel,
            message.external_id,
            reason,
            cancelled,
        )

    async def _failed(
        self, uow: UnitOfWork, message: Outgoing, attempts: int, error: Exception
    ) -> Result:
        detail = f"{type(error).__name__}: {error}"
        if attempts >= self.max_attempts:
            await uow.outbox.mark_failed(message.id, detail)
            log.error(
                "giving up on outbox message %s after %d attempts: %s",
                message.id,
                attempts,
                detail,
            )
            return "failed"
        delay = self.base_delay * 2 ** (attempts - 1)
        at = self.clock() + timedelta(seconds=delay)
        await uow.outbox.retry_later(message.id, at, detail)
        log.warning("outbox message %s failed (%s); retry in %.0f s", message.id, detail, delay)
        return "retry"

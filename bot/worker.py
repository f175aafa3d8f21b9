"""The outbound worker: sends from the outbox after commit, in order, within platform limits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from bot.locks import LearnerLocks, LockTimeout
from bot.service import Held, Outgoing, RetryAfter, Sender, Unreachable, utcnow
from bot.store import Database

log = logging.getLogger(__name__)


class OutboxWorker:
    """Drains pending messages of push channels (Telegram, Zalo) through their senders.

    A learner's messages go strictly in order, one learner at a time per process and, with
    Redis locks, across processes. Replies go before bulk messages. A 429 pauses the whole bot;
    a blocked learner's messages are cancelled; other failures retry with backoff, then fail.
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
        concurrency: int = 32,
    ) -> None:
        self.database = database
        self.locks = locks
        self.senders = dict(senders)
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.batch = batch
        self.concurrency = concurrency
        self.wakeup = asyncio.Event()
        self._paused_until: dict[str, float] = {}

    def paused(self, channel: str) -> float:
        """Seconds left before `channel` may send again (0 when it may)."""
        return max(0.0, self._paused_until.get(channel, 0.0) - time.monotonic())

    def notify(self) -> None:
        """Something was added to the outbox: look now rather than at the next tick."""
        self.wakeup.set()

    async def run_once(self) -> int:
        """Send what is due now; return how many messages went out."""
        channels = [channel for channel in self.senders if not self.paused(channel)]
        if not channels:
            return 0
        async with self.database.unit_of_work() as uow:
            learners = await uow.outbox.due_learners(channels, self.clock(), self.batch)
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
        try:
            while not stop.is_set():
                self.wakeup.clear()
                try:
                    await self._top_up(active)
                except Exception:  # the loop must outlive a database hiccup
                    log.exception("outbox worker could not read the outbox")
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
        finally:
            if active:
                await asyncio.gather(*active.values(), return_exceptions=True)

    async def _top_up(self, active: dict[int, asyncio.Task[int]]) -> None:
        """Start serving more learners with due messages, up to `concurrency` at once."""
        room = self.concurrency - len(active)
        channels = [channel for channel in self.senders if not self.paused(channel)]
        if room <= 0 or not channels:
            return
        async with self.database.unit_of_work() as uow:
            due = await uow.outbox.due_learners(channels, self.clock(), room + len(active))
        for learner_id, channel, external_id in due:
            if learner_id not in active and len(active) < self.concurrency:
                active[learner_id] = asyncio.create_task(
                    self._deliver(learner_id, channel, external_id)
                )

    async def _deliver(self, learner_id: int, channel: str, external_id: str) -> int:
        try:
            async with self.locks.hold(f"send:{channel}:{external_id}"):
                return await self._deliver_locked(learner_id, channel)
        except LockTimeout:
            return 0  # another worker is sending to this learner right now

    async def _deliver_locked(self, learner_id: int, channel: str) -> int:
        sender = self.senders[channel]
        async with self.database.unit_of_work() as uow:
            rows = await uow.outbox.due(learner_id, self.clock())
            messages = [(Outgoing.from_row(row), row.attempts) for row in rows]
        sent = 0
        for message, attempts in messages:
            if self.paused(channel):
                break
            try:
                await sender.send(message)
            except RetryAfter as error:
                self._paused_until[channel] = time.monotonic() + error.seconds
                log.warning("%s asks to wait %s s; pausing the whole bot", channel, error.seconds)
                break
            except Unreachable as error:
                await self._unreachable(message, str(error))
                break
            except Held as error:
                async with self.database.unit_of_work() as uow:
                    await uow.outbox.hold(message.id, str(error))
                    await uow.commit()
                log.info("outbox message %s held: %s", message.id, error)
                continue
            except Exception as error:  # network, server, or a bug in rendering
                await self._failed(message, attempts + 1, error)
                break
            async with self.database.unit_of_work() as uow:
                # One message at a time, so a crash can resend at most the one in flight.
                await uow.outbox.mark_sent([message.id], self.clock())
                await uow.commit()
            sent += 1
        return sent

    async def _unreachable(self, message: Outgoing, reason: str) -> None:
        async with self.database.unit_of_work() as uow:
            await uow.learners.set_unreachable(message.channel, message.external_id, self.clock())
            learner = await uow.learners.get(message.channel, message.external_id)
            cancelled = await uow.outbox.cancel_pending(learner.id, reason) if learner else 0
            await uow.commit()
        log.info(
            "learner %s/%s unreachable (%s); %d messages cancelled",
            message.channel,
            message.external_id,
            reason,
            cancelled,
        )

    async def _failed(self, message: Outgoing, attempts: int, error: Exception) -> None:
        detail = f"{type(error).__name__}: {error}"
        async with self.database.unit_of_work() as uow:
            if attempts >= self.max_attempts:
                await uow.outbox.mark_failed(message.id, detail)
                log.error(
                    "giving up on outbox message %s after %d attempts: %s",
                    message.id,
                    attempts,
                    detail,
                )
            else:
                delay = self.base_delay * 2 ** (attempts - 1)
                at = self.clock() + timedelta(seconds=delay)
                await uow.outbox.retry_later(message.id, at, detail)
                log.warning(
                    "outbox message %s failed (%s); retry in %.0f s", message.id, detail, delay
                )
            await uow.commit()

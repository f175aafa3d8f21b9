"""A learner's messages in two lanes: replies in order and never behind a bulk message
(a broadcast, a reminder) queued before them; a bulk message after every older message.

On SQLite (the worker under a learner's lock) and PostgreSQL (claims with SKIP LOCKED); the
case of another worker holding the broadcast is in tests/test_production.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.engine import TextReply
from bot.locks import MemoryLocks
from bot.service import Outgoing
from bot.store import Database
from bot.store.models import BULK_PRIORITY
from bot.worker import OutboxWorker
from tests.conftest import Clock


@dataclass
class Sent:
    texts: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, message: Outgoing) -> None:
        self.texts.append((message.external_id, message.reply.text))  # type: ignore[union-attr]


async def say(
    database: Database, clock: Clock, chat: str, *texts: str, priority: int = 0
) -> list[int]:
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(
            channel="telegram", external_id=chat, now=clock()
        )
        ids = await uow.outbox.add(
            learner, [TextReply(text=text) for text in texts], clock(), priority
        )
        await uow.commit()
    return ids


def worker(database: Database, sender: Sent, clock: Clock) -> OutboxWorker:
    return OutboxWorker(
        database=database, locks=MemoryLocks(), senders={"telegram": sender}, clock=clock
    )


async def send_all(outbox: OutboxWorker) -> None:
    while await outbox.run_once():
        pass


async def test_replies_overtake_a_broadcast_queued_before_them(
    database: Database, clock: Clock
) -> None:
    await say(database, clock, "1", "news for 1", priority=BULK_PRIORITY)
    await say(database, clock, "2", "news for 2", priority=BULK_PRIORITY)
    await say(database, clock, "1", "answer 1", "answer 2", "answer 3")
    sent = Sent()
    await send_all(worker(database, sent, clock))
    assert sent.texts[0] == ("1", "answer 1")  # replies first, across learners too
    mine = [text for chat, text in sent.texts if chat == "1"]
    assert mine == ["answer 1", "answer 2", "answer 3", "news for 1"]
    assert ("2", "news for 2") in sent.texts
    async with database.unit_of_work() as uow:
        assert await uow.outbox.count("pending") == 0


async def test_a_bulk_message_waits_for_an_older_reply_and_replies_keep_their_order(
    database: Database, clock: Clock
) -> None:
    first, _ = await say(database, clock, "1", "answer 1", "answer 2")
    await say(database, clock, "1", "reminder", priority=BULK_PRIORITY)
    async with database.unit_of_work() as uow:  # the first answer failed: it retries later
        await uow.outbox.retry_later(first, clock() + timedelta(seconds=30), "timeout")
        await uow.commit()
    sent = Sent()
    outbox = worker(database, sent, clock)
    await send_all(outbox)
    assert sent.texts == []  # neither the second answer nor the reminder overtakes the first
    clock.advance(seconds=31)
    await send_all(outbox)
    assert sent.texts == [("1", "answer 1"), ("1", "answer 2"), ("1", "reminder")]

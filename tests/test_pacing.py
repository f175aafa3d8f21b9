"""Send pacing in one process (bot.channels.pacing): the bot's rate, a little under its limit,
and replies before bulk messages. The shared Redis pacer is tested in tests/test_production.py."""

from __future__ import annotations

import asyncio
import bisect
import time

import pytest

from bot.channels.pacing import Pacer, Slots, bot_rate
from bot.engine import TextReply
from bot.service import Outgoing
from bot.store import Database
from bot.store.models import BULK_PRIORITY
from tests.conftest import Clock


def most_in_window(times: list[float], seconds: float) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + seconds, lo=i) - i for i, t in enumerate(ordered)),
        default=0,
    )


def test_the_bot_is_paced_a_little_under_its_limit() -> None:
    assert 29 <= bot_rate(30) < 29.5


async def test_sends_are_spaced_evenly() -> None:
    pacer = Pacer(per_bot=50, per_chat=1000)
    times: list[float] = []

    async def send(chat: int) -> None:
        await pacer.wait(chat, bulk=chat % 2 == 0)
        times.append(time.monotonic())

    await asyncio.gather(*(send(chat) for chat in range(20)))
    gaps = [
        later - earlier for earlier, later in zip(sorted(times), sorted(times)[1:], strict=False)
    ]
    assert min(gaps) > 0.015  # 1 / 48.5 s apart, give or take the event loop
    assert most_in_window(times, 0.2) <= 11


async def test_a_reply_overtakes_bulk_sends_already_waiting() -> None:
    pacer = Pacer(per_bot=40, per_chat=1000)
    order: list[str] = []

    async def send(name: str, *, bulk: bool) -> None:
        await pacer.wait(name, bulk=bulk)
        order.append(name)

    broadcast = [asyncio.create_task(send(f"bulk{n}", bulk=True)) for n in range(8)]
    await asyncio.sleep(0.06)  # two or three have gone; the rest wait for the bot's rate
    gone = len(order)
    await send("reply", bulk=False)
    # Behind at most the one bulk send that was already asking for the bot's rate.
    assert order.index("reply") - gone <= 1
    await asyncio.gather(*broadcast)
    assert len(order) == 9


async def test_bulk_messages_are_marked_as_such_for_the_pacer(
    database: Database, clock: Clock
) -> None:
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(
            channel="telegram", external_id="5", now=clock()
        )
        await uow.outbox.add(learner, [TextReply(text="trả lời")], clock())
        await uow.outbox.add(learner, [TextReply(text="tin mới")], clock(), BULK_PRIORITY)
        await uow.commit()
    async with database.unit_of_work() as uow:
        rows = await uow.outbox.pending(learner.id)
        assert [Outgoing.from_row(row).bulk for row in rows] == [False, True]


async def test_slots_skip_a_waiter_that_gave_up_and_pass_on_a_limiters_error() -> None:
    calls = 0
    gate = asyncio.Event()

    async def take() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("Redis is down")
        await gate.wait()

    slots = Slots(take)
    gone = asyncio.create_task(slots.wait(bulk=True))
    waiting = asyncio.create_task(slots.wait(bulk=True))
    await asyncio.sleep(0)
    gone.cancel()  # its sender was cancelled: the slot goes to the next one
    gate.set()
    await asyncio.wait_for(waiting, 1)
    with pytest.raises(ConnectionError):  # every waiter hears of it, as the worker must
        await asyncio.wait_for(slots.wait(), 1)
    await asyncio.wait_for(slots.wait(), 1)  # and the next send tries again

"""Daily reminders with a fixed clock, and certificates issued from the chat."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from bot.engine import Catalog, ChoicesReply, Engine, Start
from bot.locks import MemoryLocks
from bot.reminders import send_due
from bot.service import Tutor
from bot.store import Database
from bot.store.models import Certificate, Learner, ReminderSent
from tests.conftest import Clock
from tests.test_community import Person, words


def at(clock: Clock, day: int, hour: int, minute: int = 0) -> None:
    """Set the clock to Vietnam's local time on January `day` (UTC is 7 hours behind)."""
    clock.now = datetime(2026, 1, day, hour, minute, tzinfo=UTC).replace(hour=(hour - 7) % 24)
    if hour < 7:
        clock.now = clock.now.replace(day=day - 1)


def make_tutor(database: Database, catalog: Catalog, clock: Clock) -> Tutor:
    return Tutor(engine=Engine(catalog), database=database, locks=MemoryLocks(), clock=clock)


async def learner_with_a_reminder_at_19(tutor: Tutor) -> Person:
    lan = Person(tutor, "telegram", "lan")
    await lan.send(Start(payload="lang_en"))
    asked = words(await lan.tap("⏰ Daily reminder"))
    assert "When should I remind you" in asked
    assert "I'll remind you at 19:00" in words(await lan.tap("⏰ 19:00"))
    return lan


async def test_a_reminder_comes_at_the_chosen_hour_once_a_day(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    at(clock, 5, 10)
    lan = await learner_with_a_reminder_at_19(tutor)
    at(clock, 5, 18, 59)
    assert await send_due(database, demo_catalog, clock()) == 0
    at(clock, 5, 19, 0)  # 12:00 UTC
    assert clock().hour == 12
    assert await send_due(database, demo_catalog, clock()) == 1
    assert await send_due(database, demo_catalog, clock()) == 0  # once a day
    (nudge,) = await lan.inbox()
    assert isinstance(nudge, ChoicesReply)
    assert "Lesson one" in nudge.text  # the next lesson's title
    opened = words(await lan.type("1"))  # "Learn now", typed where there are no buttons
    assert "Which topic" in opened or "Welcome back" in opened


async def test_no_reminder_after_learning_today_nor_in_quiet_hours(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    at(clock, 5, 10)
    lan = await learner_with_a_reminder_at_19(tutor)
    await lan.type("/menu")
    await lan.tap("📘 Demo")
    await lan.tap("📘 Lesson one")
    await lan.tap("Next")  # a step learned today
    at(clock, 5, 20)
    assert await send_due(database, demo_catalog, clock()) == 0
    at(clock, 6, 21, 30)  # the next day, but after 21:00
    assert await send_due(database, demo_catalog, clock()) == 0
    at(clock, 7, 6, 30)  # and before 07:00
    assert await send_due(database, demo_catalog, clock()) == 0
    at(clock, 7, 19, 5)
    assert await send_due(database, demo_catalog, clock()) == 1


async def test_five_ignored_reminders_pause_them_with_a_last_message(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    at(clock, 4, 10)
    lan = await learner_with_a_reminder_at_19(tutor)
    for day in range(5, 10):
        at(clock, day, 19)
        assert await send_due(database, demo_catalog, clock()) == 1
    assert len(await lan.inbox()) == 5
    at(clock, 10, 19)
    assert await send_due(database, demo_catalog, clock()) == 1
    (last,) = await lan.inbox()
    assert "paused the reminders" in words([last])
    at(clock, 11, 19)
    assert await send_due(database, demo_catalog, clock()) == 0
    assert "I'll remind you at 19:00" in words(await lan.type("/settings") + await lan.tap("⏰ 19"))
    at(clock, 12, 19)
    assert await send_due(database, demo_catalog, clock()) == 1


async def test_two_workers_racing_send_one_reminder(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    at(clock, 5, 10)
    lan = await learner_with_a_reminder_at_19(tutor)
    at(clock, 5, 19)
    counts = await asyncio.gather(
        send_due(database, demo_catalog, clock()), send_due(database, demo_catalog, clock())
    )
    assert sum(counts) == 1
    assert len(await lan.inbox()) == 1
    async with database.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(ReminderSent))).all()
    assert [(row.day, row.kind) for row in rows] == [("2026-01-05", "reminder")]


async def test_passing_the_final_check_issues_one_certificate_in_the_chosen_name(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    lan = Person(tutor, "web", "lan")
    await lan.send(Start(payload="lang_en"))
    await lan.tap("📘 Demo")
    await lan.tap("📘 Lesson one")
    for label in ("Next", "Done", "Nobody", "A scam"):
        await lan.tap(label)
    await lan.tap("▶️ Next: Lesson two")
    await lan.tap("Next")
    await lan.tap("Two")
    await lan.tap("🏁 Take the final check")
    right = ("Only you", "Never", "Call the bank", "Make the text bigger", "Don't tap it")
    passed = ""
    while lan.buttons and not lan.buttons[0].label.startswith(("▶️", "📋", "📚")):
        choice = next((o for o in lan.buttons if o.label in right), lan.buttons[0])
        passed = words(await lan.tap(choice.label))
    assert "What name should go on your certificate?" in passed, passed
    done = words(await lan.type("Nguyễn Thị Lan"))
    assert "Congratulations!" in done
    assert "in the name of Nguyễn Thị Lan" in done
    listed = words(await lan.type("/certificates"))
    assert "Demo" in listed
    async with database.unit_of_work() as uow:
        issued = (await uow.session.scalars(select(Certificate))).all()
        person = await uow.learners.get("web", "lan")
    assert [(c.module_id, c.display_name) for c in issued] == [("demo", "Nguyễn Thị Lan")]
    assert isinstance(person, Learner)
    assert person.display_name == "Nguyễn Thị Lan"

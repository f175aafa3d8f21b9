"""Daily reminders: one gentle nudge on a day the learner has not learned, at the hour they chose.

Every process's upkeep calls `send_due` every half minute. A reminder is claimed by inserting
(person, day) into `reminders_sent` in the transaction that queues it, so racing workers send it
once. Times are the learner's own (Vietnam's unless they chose another zone); quiet hours are
21:00–07:00 there. The nudge names the next lesson and the reviews that are due. After five
reminders in a row without learning the reminders pause, with a last message saying how to turn
them back on.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select

from bot import review, vietnam
from bot.engine import Catalog, ChoicesReply, Option, Reply, State, TextReply
from bot.engine.engine import due_reviews
from bot.engine.lesson import Locale, Text
from bot.store.db import Database, UnitOfWork
from bot.store.models import BULK_PRIORITY, Learner, ReminderSent
from bot.store.repositories import dialect_insert

log = logging.getLogger(__name__)

QUIET_FROM = 21 * 60
QUIET_UNTIL = 7 * 60
"""Quiet hours, in minutes after midnight: nothing is sent from 21:00 to 07:00."""
CHOICES = (7 * 60, 12 * 60, 19 * 60, 20 * 60 + 30)
PAUSE_AFTER = 5
BATCH = 500


def _t(vi: str, en: str) -> Text:
    return Text(vi=vi, en=en)


NUDGES = (
    _t(
        "🌼 Chào bạn! Hôm nay mình học vài phút nhé: «{title}».",
        "🌼 Hello! A few minutes of learning today? «{title}».",
    ),
    _t(
        "📱 Mỗi ngày một chút là giỏi lắm rồi. Bài tiếp theo: «{title}».",
        "📱 A little every day goes a long way. Next up: «{title}».",
    ),
    _t(
        "☕ Có vài phút rảnh không? Cùng học «{title}» nhé.",
        "☕ Got a few minutes? Let's learn «{title}» together.",
    ),
    _t(
        "🛡️ Học thêm một chút để dùng điện thoại an toàn hơn: «{title}».",
        "🛡️ A little more to stay safer on your phone: «{title}».",
    ),
)
START_BUTTON = _t("▶️ Học ngay", "▶️ Learn now")
REVIEWS_DUE = _t(
    "🔁 Có {count} câu đến lúc ôn lại — chỉ mất vài phút thôi.",
    "🔁 {count} questions are ready to review — just a few minutes.",
)
REVIEW_BUTTON = _t("🔁 Ôn lại", "🔁 Review")
PAUSED = _t(
    "🔕 Mình tạm dừng nhắc học để không làm phiền bạn. Khi nào muốn nhắc lại, bạn gõ /settings "
    "hoặc bấm «⏰ Nhắc học hằng ngày» trong menu nhé. Chúc bạn một ngày vui!",
    "🔕 I've paused the reminders so as not to bother you. To have them again, type /settings "
    "or tap «⏰ Daily reminder» in the menu. Have a lovely day!",
)


def local(now: datetime, zone: str | None = None) -> tuple[str, int]:
    """The date (YYYY-MM-DD) and minute of the day at `now`, in Vietnam or in `zone`."""
    moment = vietnam.local(now, zone)
    return moment.date().isoformat(), moment.hour * 60 + moment.minute


def quiet(minute: int) -> bool:
    return minute < QUIET_UNTIL or minute >= QUIET_FROM


def label(minute: int) -> str:
    return f"{minute // 60}:{minute % 60:02d}"


def next_title(catalog: Catalog, state: State, locale: Locale) -> str:
    """The lesson to nudge towards: the one in progress, or the next not yet done."""
    if state.position is not None and state.position.check is None:
        lesson = catalog.lesson(state.position.lesson_id)
    else:
        lesson = catalog.next_after(state.last_finished or "", set(state.completed))
        lesson = lesson or next(
            (item for item in catalog.ordered() if item.id not in state.completed), None
        )
    return lesson.title(locale) if lesson is not None else catalog.ordered()[0].title(locale)


async def send_due(database: Database, catalog: Catalog, now: datetime) -> int:
    """Queue today's due reminders, zone by zone; returns how many people were handled."""
    wanted = (
        Learner.person_id.is_(None),
        Learner.remind_at.is_not(None),
        Learner.reminders_paused.is_(False),
        Learner.consent_at.is_not(None),
    )
    async with database.unit_of_work() as uow:
        zones = (
            await uow.session.scalars(select(Learner.time_zone).where(*wanted).distinct())
        ).all()
    handled = 0
    for zone in zones:
        day, minute = local(now, zone)
        if quiet(minute):
            continue
        in_zone = Learner.time_zone.is_(None) if zone is None else Learner.time_zone == zone
        async with database.unit_of_work() as uow:
            due = (
                await uow.session.scalars(
                    select(Learner.id)
                    .where(
                        *wanted,
                        in_zone,
                        Learner.remind_at <= minute,
                        or_(Learner.learned_on.is_(None), Learner.learned_on != day),
                        ~select(ReminderSent.learner_id)
                        .where(ReminderSent.learner_id == Learner.id, ReminderSent.day == day)
                        .exists(),
                    )
                    .order_by(Learner.id)
                    .limit(BATCH)
                )
            ).all()
        for person in due:
            async with database.unit_of_work() as uow:
                handled += await _remind(uow, catalog, person, day, now)
                await uow.commit()
    return handled


async def _remind(uow: UnitOfWork, catalog: Catalog, person: int, day: str, now: datetime) -> int:
    learner = await uow.session.get(Learner, person, with_for_update=True)
    if learner is None or learner.remind_at is None or learner.reminders_paused:
        return 0
    account = await uow.volunteers.reach(person)
    kind = "skipped" if account is None else "paused"
    if account is not None and learner.reminders_ignored < PAUSE_AFTER:
        kind = "reminder"
    claim = (
        dialect_insert(uow.session, ReminderSent)
        .values(learner_id=person, day=day, kind=kind, sent_at=now)
        .on_conflict_do_nothing(index_elements=["learner_id", "day"])
    )
    if not (await uow.session.execute(claim)).rowcount:  # type: ignore[attr-defined]
        return 0  # another worker has it
    if account is None:
        return 1
    locale: Locale = "en" if account.locale == "en" else "vi"
    replies: list[Reply]
    if kind == "paused":
        learner.reminders_paused = True
        replies = [TextReply(text=PAUSED(locale))]
    else:
        learner.reminders_ignored += 1
        raw = await uow.states.load(person)
        state = State.model_validate(raw) if raw is not None else State()
        nudge = NUDGES[int(day.replace("-", "")) % len(NUDGES)]
        text = nudge(locale).format(title=next_title(catalog, state, locale))
        buttons = [Option(key="a:resume", label=START_BUTTON(locale))]
        state.now = review.iso(now)
        due = len(due_reviews(catalog, state))
        if due:
            text += "\n" + REVIEWS_DUE(locale).format(count=due)
            buttons.insert(0, Option(key="a:review", label=REVIEW_BUTTON(locale)))
        replies = [ChoicesReply(text=text, options=buttons)]
    await uow.outbox.add(account, replies, now, priority=BULK_PRIORITY, unasked=True)
    return 1

"""Report rollups: small tables recomputed from the source tables, read by every report.

A report over a million learners and twenty million events cannot scan them within a request,
so `refresh_rollups` folds them into the report_* tables: per month, place and channel for
progress; per province for lessons, answers and learning gain; per volunteer for referrals.
The worker refreshes them every few minutes (CAMTAY_REPORT_REFRESH_SECONDS); a report says how
fresh it is (`as_of`). Quiz and drill answers are folded in incrementally, past a watermark on
the append-only event log; everything else is recomputed in full, which takes seconds.

The aggregations are also used live, restricted to one school, for viewers scoped to a school:
a school's learners are few, so those reports need no rollup and are always current.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot import vietnam
from bot.engine import Catalog
from bot.store.db import Database
from bot.store.models import (
    EventRecord,
    HelpRequest,
    Learner,
    LessonProgress,
    Referral,
    ReportAnswer,
    ReportGain,
    ReportLesson,
    ReportMeta,
    ReportProgress,
    ReportStep,
    ReportVolunteer,
    Volunteer,
)
from bot.store.repositories import dialect_insert

log = logging.getLogger(__name__)

MILESTONES = {
    "registered": Learner.created_at,
    "started": Learner.started_at,
    "completed_lesson": Learner.first_lesson_at,
    "completed_module": Learner.first_module_at,
    "equipped": Learner.equipped_at,
}
ANSWER_TYPES = ("quiz.answered", "drill.answered")
WATERMARK = "answers.last_event_id"
REFRESHED = "refreshed_at"
BATCH = 5000


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def month_of(session: AsyncSession, column: Any) -> ColumnElement[str]:
    """YYYY-MM of a UTC timestamp, in Vietnam's time (UTC+7 all year)."""
    if _dialect(session) == "postgresql":
        return func.to_char(func.timezone("UTC", column) + vietnam.OFFSET, "YYYY-MM")
    return func.strftime("%Y-%m", column, "+7 hours")


def _person() -> ColumnElement[bool]:
    return Learner.person_id.is_(None)


def _places(by_province: bool) -> list[Any]:
    """The grouping by province, or none (a school's live report is one place)."""
    return [func.coalesce(Learner.province, "")] if by_province else []


def _place(row: Sequence[Any], by_province: bool) -> tuple[str, Sequence[Any]]:
    return (str(row[0]), row[1:]) if by_province else ("", row)


# --- the aggregations, over any set of learners ---------------------------------------------


@dataclass
class LessonFigures:
    started: int = 0
    completed: int = 0
    durations: list[float] = field(default_factory=list)
    median_seconds: float | None = None
    reached: dict[int, int] = field(default_factory=dict)
    stuck: dict[int, int] = field(default_factory=dict)


async def lesson_figures(
    session: AsyncSession, catalog: Catalog, where: ColumnElement[bool], *, by_province: bool
) -> dict[tuple[str, str], LessonFigures]:
    """Per (province or "", lesson): started, completed, median time, reach and stuck per step."""
    places = _places(by_province)
    figures: dict[tuple[str, str], LessonFigures] = defaultdict(LessonFigures)
    keys = [*places, LessonProgress.lesson_id, LessonProgress.status, LessonProgress.current_step]
    status_rows = await session.execute(
        select(*keys, func.count())
        .join(Learner, Learner.id == LessonProgress.learner_id)
        .where(where)
        .group_by(*keys)
    )
    for row in status_rows.all():
        place, (lesson_id, status, step, count) = _place(row, by_province)
        entry = figures[(place, lesson_id)]
        entry.started += count
        lesson = catalog.lesson(lesson_id)
        steps = len(lesson.steps) if lesson is not None else step + 1
        last = steps if status == "completed" else min(step, steps)
        entry.completed += count if status == "completed" else 0
        for index in range(last + (1 if status != "completed" else 0)):
            if index < steps:
                entry.reached[index] = entry.reached.get(index, 0) + count
    await _medians(session, figures, places, where, by_province)
    stuck_keys = [*places, HelpRequest.lesson_id, HelpRequest.step]
    stuck_rows = await session.execute(
        select(*stuck_keys, func.count())
        .join(Learner, Learner.id == HelpRequest.learner_id)
        .where(where)
        .group_by(*stuck_keys)
    )
    for row in stuck_rows.all():
        place, (lesson_id, step, count) = _place(row, by_province)
        figures[(place, lesson_id)].stuck[step] = count
    return figures


async def _medians(
    session: AsyncSession,
    figures: dict[tuple[str, str], LessonFigures],
    places: list[Any],
    where: ColumnElement[bool],
    by_province: bool,
) -> None:
    completed = and_(where, LessonProgress.status == "completed")
    if _dialect(session) == "postgresql":
        seconds = func.extract("epoch", LessonProgress.completed_at - LessonProgress.started_at)
        keys = [*places, LessonProgress.lesson_id]
        rows = await session.execute(
            select(*keys, func.percentile_cont(0.5).within_group(seconds))
            .join(Learner, Learner.id == LessonProgress.learner_id)
            .where(completed)
            .group_by(*keys)
        )
        for row in rows.all():
            place, (lesson_id, median) = _place(row, by_province)
            figures[(place, lesson_id)].median_seconds = None if median is None else float(median)
        return
    # SQLite (the embedded default, small by nature) has no percentile: compute it here.
    result = await session.stream(
        select(
            *places,
            LessonProgress.lesson_id,
            LessonProgress.started_at,
            LessonProgress.completed_at,
        )
        .join(Learner, Learner.id == LessonProgress.learner_id)
        .where(completed)
    )
    async for row in result:
        place, (lesson_id, started, finished) = _place(row, by_province)
        if started is not None and finished is not None:
            figures[(place, lesson_id)].durations.append((finished - started).total_seconds())
    for entry in figures.values():
        if entry.durations:
            entry.median_seconds = statistics.median(entry.durations)


def _option_column() -> ColumnElement[str]:
    """A quiz answer's option index, or a drill's verdict, as text."""
    return func.coalesce(
        EventRecord.data["option"].as_string(), EventRecord.data["answer"].as_string()
    )


async def answer_counts(
    session: AsyncSession,
    where: ColumnElement[bool],
    *,
    by_province: bool,
    after_event: int = 0,
    until_event: int | None = None,
) -> list[tuple[str, str, str, str, bool, int]]:
    """(province or "", lesson, step, option, correct, answers) from answer events."""
    keys = [
        *_places(by_province),
        EventRecord.lesson_id,
        EventRecord.step_id,
        _option_column(),
        EventRecord.data["correct"].as_boolean(),
    ]
    conditions = [where, EventRecord.type.in_(ANSWER_TYPES), EventRecord.id > after_event]
    if until_event is not None:
        conditions.append(EventRecord.id <= until_event)
    rows = await session.execute(
        select(*keys, func.count())
        .join(Learner, Learner.id == EventRecord.learner_id)
        .where(*conditions)
        .group_by(*keys)
    )
    counts = []
    for row in rows.all():
        place, (lesson, step, chosen, right, count) = _place(row, by_province)
        counts.append((place, lesson or "", step or "", str(chosen), bool(right), int(count)))
    return counts


@dataclass
class GainFigures:
    learners: int = 0
    pre_correct: int = 0
    pre_total: int = 0
    post_correct: int = 0
    post_total: int = 0


async def gain_figures(
    session: AsyncSession, where: ColumnElement[bool], *, by_province: bool
) -> dict[tuple[str, str], GainFigures]:
    """Per (province or "", module): people with both checks; their latest scores summed."""
    result = await session.stream(
        select(
            *_places(by_province),
            EventRecord.learner_id,
            EventRecord.data["module"].as_string(),
            EventRecord.data["phase"].as_string(),
            EventRecord.data["correct"].as_integer(),
            EventRecord.data["total"].as_integer(),
        )
        .join(Learner, Learner.id == EventRecord.learner_id)
        .where(where, EventRecord.type == "check.completed")
        .order_by(EventRecord.id)
        .execution_options(yield_per=BATCH)
    )
    latest: dict[tuple[str, int, str], dict[str, tuple[int, int]]] = defaultdict(dict)
    # By partitions of BATCH rows: row by row, each row is a greenlet switch (about 20 µs).
    async for partition in result.partitions():
        for row in partition:
            place, (learner, module, phase, correct, total) = _place(row, by_province)
            latest[(place, learner, module)][phase] = (int(correct), int(total))
    figures: dict[tuple[str, str], GainFigures] = defaultdict(GainFigures)
    for (place, _, module), phases in latest.items():
        if "pre" in phases and "post" in phases:
            entry = figures[(place, module)]
            entry.learners += 1
            entry.pre_correct += phases["pre"][0]
            entry.pre_total += phases["pre"][1]
            entry.post_correct += phases["post"][0]
            entry.post_total += phases["post"][1]
    return figures


def volunteer_counts_query(where: ColumnElement[bool]) -> Any:
    """Per volunteer: referred, started, activated, completed a module."""
    return (
        select(
            Volunteer.id,
            Volunteer.province,
            Volunteer.school_key,
            Volunteer.school,
            Volunteer.class_name,
            func.count(Referral.learner_id),
            func.count(Learner.started_at),
            func.count(Referral.activated_at),
            func.count(Learner.first_module_at),
        )
        .select_from(Volunteer)
        .outerjoin(Referral, Referral.volunteer_id == Volunteer.id)
        .outerjoin(Learner, Learner.id == Referral.learner_id)
        .where(where)
        .group_by(
            Volunteer.id,
            Volunteer.province,
            Volunteer.school_key,
            Volunteer.school,
            Volunteer.class_name,
        )
    )


# --- the refresh ------------------------------------------------------------------------------


async def _insert(session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        await session.execute(dialect_insert(session, table), list(rows[start : start + BATCH]))


async def _refresh_progress(session: AsyncSession) -> None:
    counts: dict[tuple[str, str, str, str], dict[str, int]] = defaultdict(dict)
    for name, column in MILESTONES.items():
        month = month_of(session, column)
        key = (
            month,
            func.coalesce(Learner.province, ""),
            func.coalesce(Learner.school_key, ""),
            Learner.channel,
        )
        rows = await session.execute(
            select(*key, func.count()).where(_person(), column.is_not(None)).group_by(*key)
        )
        for month_value, province, school, channel, count in rows.all():
            counts[(month_value, province, school, channel)][name] = int(count)
    await session.execute(delete(ReportProgress))
    await _insert(
        session,
        ReportProgress,
        [
            {
                "month": month_value,
                "province": province,
                "school_key": school,
                "channel": channel,
                **{name: values.get(name, 0) for name in MILESTONES},
            }
            for (month_value, province, school, channel), values in counts.items()
        ],
    )


NATIONAL = "*"
"""The province of national rows in report_lessons and report_steps."""


async def _refresh_lessons(session: AsyncSession, catalog: Catalog) -> None:
    figures = await lesson_figures(session, catalog, _person(), by_province=True)
    # Medians do not add up across provinces, so the nation gets rows of its own.
    national = await lesson_figures(session, catalog, _person(), by_province=False)
    figures.update({(NATIONAL, lesson): entry for (_, lesson), entry in national.items()})
    await session.execute(delete(ReportLesson))
    await session.execute(delete(ReportStep))
    await _insert(
        session,
        ReportLesson,
        [
            {
                "province": place,
                "lesson_id": lesson_id,
                "started": entry.started,
                "completed": entry.completed,
                "median_seconds": entry.median_seconds,
            }
            for (place, lesson_id), entry in figures.items()
        ],
    )
    await _insert(
        session,
        ReportStep,
        [
            {
                "province": place,
                "lesson_id": lesson_id,
                "step": step,
                "reached": entry.reached.get(step, 0),
                "stuck": entry.stuck.get(step, 0),
            }
            for (place, lesson_id), entry in figures.items()
            for step in sorted(set(entry.reached) | set(entry.stuck))
        ],
    )


async def _refresh_answers(session: AsyncSession, full: bool) -> None:
    """Fold answer events past the watermark into report_answers (all of them when `full`)."""
    meta = await session.get(ReportMeta, WATERMARK)
    after = 0 if full or meta is None else int(meta.value)
    until = await session.scalar(select(func.max(EventRecord.id))) or 0
    if full:
        await session.execute(delete(ReportAnswer))
    rows = await answer_counts(
        session, _person(), by_province=True, after_event=after, until_event=until
    )
    statement = dialect_insert(session, ReportAnswer)
    statement = statement.on_conflict_do_update(
        index_elements=["province", "lesson_id", "step_id", "option"],
        set_={"answers": ReportAnswer.answers + statement.excluded.answers},
    )
    values = [
        {
            "province": place,
            "lesson_id": lesson,
            "step_id": step,
            "option": option,
            "correct": correct,
            "answers": count,
        }
        for place, lesson, step, option, correct, count in rows
    ]
    # One executemany per batch, not one round trip per row (there are about 10,000).
    for start in range(0, len(values), BATCH):
        await session.execute(statement, values[start : start + BATCH])
    await _set_meta(session, WATERMARK, str(until))


async def _refresh_gain(session: AsyncSession) -> None:
    figures = await gain_figures(session, _person(), by_province=True)
    await session.execute(delete(ReportGain))
    await _insert(
        session,
        ReportGain,
        [
            {
                "province": place,
                "module_id": module,
                "learners": entry.learners,
                "pre_correct": entry.pre_correct,
                "pre_total": entry.pre_total,
                "post_correct": entry.post_correct,
                "post_total": entry.post_total,
            }
            for (place, module), entry in figures.items()
        ],
    )


async def _refresh_volunteers(session: AsyncSession) -> None:
    rows = (await session.execute(volunteer_counts_query(true()))).all()
    await session.execute(delete(ReportVolunteer))
    names = (
        "volunteer_id",
        "province",
        "school_key",
        "school",
        "class_name",
        "referred",
        "started",
        "activated",
        "completed_module",
    )
    await _insert(session, ReportVolunteer, [dict(zip(names, row, strict=True)) for row in rows])


async def _set_meta(session: AsyncSession, name: str, value: str) -> None:
    now = datetime.now().astimezone()
    statement = dialect_insert(session, ReportMeta).values(name=name, value=value, updated_at=now)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": now}
        )
    )


REFRESH_LOCK = 0x63616D746179
"""A PostgreSQL advisory lock id: one refresh at a time across every process."""


async def refresh_rollups(
    database: Database, catalog: Catalog, now: datetime, *, full: bool = False
) -> bool:
    """Recompute the report tables in one transaction: readers see the old or the new, whole.

    False when another process is refreshing them right now (its result will do).
    """
    async with database.unit_of_work() as uow:
        session = uow.session
        if _dialect(session) == "postgresql" and not await session.scalar(
            select(func.pg_try_advisory_xact_lock(REFRESH_LOCK))
        ):
            return False
        await _refresh_progress(session)
        await _refresh_lessons(session, catalog)
        await _refresh_answers(session, full)
        await _refresh_gain(session)
        await _refresh_volunteers(session)
        await _set_meta(session, REFRESHED, now.isoformat())
        await uow.commit()
    log.info("report rollups refreshed")
    return True


async def refreshed_at(session: AsyncSession) -> datetime | None:
    meta = await session.get(ReportMeta, REFRESHED)
    return None if meta is None else datetime.fromisoformat(meta.value)

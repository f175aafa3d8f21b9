"""Admin API: progress by place and period, lesson funnels, learning gain, volunteers.

The query functions here are what the dashboard calls too. National and province figures come
from the rollups (admin/rollups.py); a viewer scoped to one school gets lesson and gain figures
computed live from that school's learners, which are few.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, func, select, true, tuple_

from admin.audit import record
from admin.auth import AdminOnly, Anyone, Principal, runtime_of
from admin.rollups import (
    NATIONAL,
    GainFigures,
    LessonFigures,
    answer_counts,
    gain_figures,
    lesson_figures,
    refresh_rollups,
    refreshed_at,
)
from bot import provinces
from bot.engine import Catalog
from bot.engine import phrases as engine_phrases
from bot.engine.lesson import DrillStep, QuizStep
from bot.store.db import UnitOfWork
from bot.store.models import (
    Learner,
    ReportAnswer,
    ReportGain,
    ReportLesson,
    ReportProgress,
    ReportStep,
    ReportVolunteer,
    Volunteer,
)

router = APIRouter(tags=["reports"])

GroupBy = Literal["province", "school", "channel"]
Period = Literal["month", "quarter"]
VolunteerGroup = Literal["volunteer", "class", "school", "province"]
SCHOOLS = 50
"""Schools in a progress report by school, unless the caller asks for more (`limit`)."""


# --- progress -------------------------------------------------------------------------------


class ProgressRow(BaseModel):
    group: str
    """A province code, a school (folded name) or a channel; "" when unknown."""
    label: str
    period: str
    """YYYY-MM or YYYY-Qn."""
    registered: int
    started: int
    completed_lesson: int
    completed_module: int
    equipped: int
    registered_total: int
    """Registered by the end of the period."""
    equipped_total: int
    share_equipped: float
    """equipped_total / registered_total: the share of people equipped by the period's end."""


class ProgressReport(BaseModel):
    group_by: GroupBy
    period: Period
    equipped_means: list[str] = Field(
        description="The core modules: a learner who completed all of them is equipped."
    )
    rows: list[ProgressRow]
    as_of: datetime | None = Field(description="When the figures were last refreshed.")


def _period_of(month: str, period: Period) -> str:
    if period == "month":
        return month
    year, number = month.split("-")
    return f"{year}-Q{(int(number) - 1) // 3 + 1}"


def _month(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def _rollup_scope(who: Principal) -> ColumnElement[bool]:
    if who.province is None:
        return true()
    condition = ReportProgress.province == who.province
    if who.school_key is not None:
        condition = and_(condition, ReportProgress.school_key == who.school_key)
    return condition


async def _school_names(uow: UnitOfWork, places: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The names of these (province, school key) places, from their volunteers' rows."""
    if not places:
        return {}
    rows = await uow.session.execute(
        select(Volunteer.school_key, func.min(Volunteer.school))
        .where(tuple_(Volunteer.province, Volunteer.school_key).in_(list(places)))
        .group_by(Volunteer.school_key)
    )
    return {key: name for key, name in rows.all()}


async def progress_report(
    uow: UnitOfWork,
    who: Principal,
    *,
    catalog: Catalog,
    group_by: GroupBy = "province",
    period: Period = "month",
    start: date | None = None,
    end: date | None = None,
    limit: int = SCHOOLS,
) -> ProgressReport:
    column = {
        "province": ReportProgress.province,
        "school": ReportProgress.school_key,
        "channel": ReportProgress.channel,
    }[group_by]
    conditions = [_rollup_scope(who)]
    if end is not None:
        conditions.append(ReportProgress.month <= _month(end))
    places: list[tuple[str, str]] = []
    if group_by == "school":
        # Every school of the country by month is tens of thousands of rows (14 MB of JSON
        # for 5,000 schools): report the `limit` schools with the most people registered.
        biggest = await uow.session.execute(
            select(ReportProgress.school_key, func.min(ReportProgress.province))
            .where(*conditions)
            .group_by(ReportProgress.school_key)
            .order_by(func.sum(ReportProgress.registered).desc(), ReportProgress.school_key)
            .limit(limit)
        )
        places = [(province, key) for key, province in biggest.all()]
        conditions.append(ReportProgress.school_key.in_([key for _, key in places]))
    milestones = ("registered", "started", "completed_lesson", "completed_module", "equipped")
    rows = await uow.session.execute(
        select(
            column,
            ReportProgress.month,
            *(func.sum(getattr(ReportProgress, name)) for name in milestones),
        )
        .where(*conditions)
        .group_by(column, ReportProgress.month)
        .order_by(column, ReportProgress.month)
    )
    by_period: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(milestones))
    for group, month, *counts in rows.all():
        figures = by_period[(group, _period_of(month, period))]
        for index, count in enumerate(counts):
            figures[index] += int(count or 0)
    labels = await _school_names(uow, places) if group_by == "school" else {}
    first = _period_of(_month(start), period) if start is not None else ""
    report_rows = []
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (group, key), figures in sorted(by_period.items()):
        running = totals[group]
        running[0] += figures[0]
        running[1] += figures[4]
        if key < first:
            continue
        report_rows.append(
            ProgressRow(
                group=group,
                label=_label(group_by, group, labels),
                period=key,
                registered=figures[0],
                started=figures[1],
                completed_lesson=figures[2],
                completed_module=figures[3],
                equipped=figures[4],
                registered_total=running[0],
                equipped_total=running[1],
                share_equipped=round(running[1] / running[0], 4) if running[0] else 0.0,
            )
        )
    return ProgressReport(
        group_by=group_by,
        period=period,
        equipped_means=[module.id for module in catalog.core_modules],
        rows=report_rows,
        as_of=await refreshed_at(uow.session),
    )


def _label(group_by: GroupBy, group: str, schools: dict[str, str]) -> str:
    if group_by == "province":
        place = provinces.by_code(group)
        return place.vi if place is not None else "(chưa rõ / unknown)"
    if group_by == "school":
        return schools.get(group, group) or "(không trường / no school)"
    return group


# --- lessons --------------------------------------------------------------------------------


class StepRow(BaseModel):
    step: int
    step_id: str
    kind: str
    reached: int
    """People who got to this step."""
    stuck: int
    """'I'm stuck' taps on this step."""


class ItemRow(BaseModel):
    step_id: str
    question_vi: str
    question_en: str
    answers: int
    percent_correct: float
    top_wrong_option_vi: str | None
    top_wrong_option_en: str | None


class LessonRow(BaseModel):
    lesson_id: str
    title_vi: str
    title_en: str
    module_id: str
    started: int
    completed: int
    completion_rate: float
    median_minutes: float | None
    steps: list[StepRow]
    items: list[ItemRow]


class LessonsReport(BaseModel):
    lessons: list[LessonRow]
    as_of: datetime | None


async def lessons_report(uow: UnitOfWork, who: Principal, catalog: Catalog) -> LessonsReport:
    session = uow.session
    answers: dict[tuple[str, str], dict[tuple[str, bool], int]] = defaultdict(dict)
    if who.school_key is not None:
        where = and_(who.learners(), Learner.person_id.is_(None))
        live = await lesson_figures(session, catalog, where, by_province=False)
        figures = {lesson: entry for (_, lesson), entry in live.items()}
        for _, lesson_id, step_id, option, correct, count in await answer_counts(
            session, where, by_province=False
        ):
            answers[(lesson_id, step_id)][(option, correct)] = count
    else:
        figures = await _rolled_lessons(uow, who.province or NATIONAL)
        answer_rows = await session.execute(
            select(
                ReportAnswer.lesson_id,
                ReportAnswer.step_id,
                ReportAnswer.option,
                ReportAnswer.correct,
                func.sum(ReportAnswer.answers),
            )
            .where(true() if who.province is None else ReportAnswer.province == who.province)
            .group_by(
                ReportAnswer.lesson_id,
                ReportAnswer.step_id,
                ReportAnswer.option,
                ReportAnswer.correct,
            )
        )
        for lesson_id, step_id, option, correct, count in answer_rows.all():
            answers[(lesson_id, step_id)][(option, bool(correct))] = int(count or 0)
    rows = []
    for lesson in catalog.ordered():
        entry = figures.get(lesson.id, LessonFigures())
        steps = [
            StepRow(
                step=index,
                step_id=step.id,
                kind=step.kind,
                reached=entry.reached.get(index, 0),
                stuck=entry.stuck.get(index, 0),
            )
            for index, step in enumerate(lesson.steps)
        ]
        items = [
            _item(step, answers.get((lesson.id, step.id), {}))
            for step in lesson.steps
            if isinstance(step, QuizStep | DrillStep)
        ]
        rows.append(
            LessonRow(
                lesson_id=lesson.id,
                title_vi=lesson.title.vi,
                title_en=lesson.title.en,
                module_id=lesson.module,
                started=entry.started,
                completed=entry.completed,
                completion_rate=round(entry.completed / entry.started, 4) if entry.started else 0,
                median_minutes=None
                if entry.median_seconds is None
                else round(entry.median_seconds / 60, 1),
                steps=steps,
                items=items,
            )
        )
    return LessonsReport(lessons=rows, as_of=await refreshed_at(session))


async def _rolled_lessons(uow: UnitOfWork, province: str) -> dict[str, LessonFigures]:
    figures: dict[str, LessonFigures] = defaultdict(LessonFigures)
    for row in (
        await uow.session.scalars(select(ReportLesson).where(ReportLesson.province == province))
    ).all():
        entry = figures[row.lesson_id]
        entry.started, entry.completed = row.started, row.completed
        entry.median_seconds = row.median_seconds
    for step in (
        await uow.session.scalars(select(ReportStep).where(ReportStep.province == province))
    ).all():
        figures[step.lesson_id].reached[step.step] = step.reached
        figures[step.lesson_id].stuck[step.step] = step.stuck
    return figures


def _item(step: QuizStep | DrillStep, counts: dict[tuple[str, bool], int]) -> ItemRow:
    total = sum(counts.values())
    right = sum(count for (_, correct), count in counts.items() if correct)
    wrong = [(count, option) for (option, correct), count in counts.items() if not correct]
    top = max(wrong)[1] if wrong else None
    if isinstance(step, QuizStep):
        question_vi, question_en = step.question.vi, step.question.en
        option = step.options[int(top)] if top is not None and top.isdigit() else None
        wrong_vi = option.text.vi if option is not None else None
        wrong_en = option.text.en if option is not None else None
    else:
        question_vi, question_en = step.message.vi, step.message.en
        verdict = engine_phrases.DRILL_VERDICTS.get(top) if top is not None else None
        wrong_vi = verdict.vi if verdict is not None else None
        wrong_en = verdict.en if verdict is not None else None
    return ItemRow(
        step_id=step.id,
        question_vi=question_vi,
        question_en=question_en,
        answers=total,
        percent_correct=round(100 * right / total, 1) if total else 0.0,
        top_wrong_option_vi=wrong_vi,
        top_wrong_option_en=wrong_en,
    )


# --- learning gain --------------------------------------------------------------------------


class GainRow(BaseModel):
    module_id: str
    title_vi: str
    title_en: str
    learners: int
    """People who took both the pre- and the post-check."""
    pre_percent: float
    post_percent: float


class GainReport(BaseModel):
    modules: list[GainRow]
    as_of: datetime | None


async def gain_report(uow: UnitOfWork, who: Principal, catalog: Catalog) -> GainReport:
    totals: dict[str, GainFigures] = defaultdict(GainFigures)
    if who.school_key is not None:
        where = and_(who.learners(), Learner.person_id.is_(None))
        for (_, module_id), entry in (
            await gain_figures(uow.session, where, by_province=False)
        ).items():
            totals[module_id] = entry
    else:
        rows = await uow.session.scalars(
            select(ReportGain).where(
                true() if who.province is None else ReportGain.province == who.province
            )
        )
        for row in rows.all():
            entry = totals[row.module_id]
            entry.learners += row.learners
            entry.pre_correct += row.pre_correct
            entry.pre_total += row.pre_total
            entry.post_correct += row.post_correct
            entry.post_total += row.post_total
    modules = []
    for module in catalog.modules:
        entry = totals.get(module.id, GainFigures())
        modules.append(
            GainRow(
                module_id=module.id,
                title_vi=module.title.vi,
                title_en=module.title.en,
                learners=entry.learners,
                pre_percent=round(100 * entry.pre_correct / entry.pre_total, 1)
                if entry.pre_total
                else 0.0,
                post_percent=round(100 * entry.post_correct / entry.post_total, 1)
                if entry.post_total
                else 0.0,
            )
        )
    return GainReport(modules=modules, as_of=await refreshed_at(uow.session))


# --- volunteers -----------------------------------------------------------------------------


class VolunteerRow(BaseModel):
    key: str
    label: str
    """A volunteer's name (only for roles that see names), a class, a school or a province."""
    province: str
    referred: int
    started: int
    activated: int
    """Family members who completed their first lesson: the referral counts."""
    completed_module: int


class VolunteersReport(BaseModel):
    by: VolunteerGroup
    rows: list[VolunteerRow]
    as_of: datetime | None


async def volunteers_report(
    uow: UnitOfWork, who: Principal, *, by: VolunteerGroup = "volunteer", limit: int = 50
) -> VolunteersReport:
    table = ReportVolunteer
    scope: ColumnElement[bool] = true()
    if who.province is not None:
        scope = table.province == who.province
        if who.school_key is not None:
            scope = and_(scope, table.school_key == who.school_key)
    groupings: dict[str, list[Any]] = {
        "volunteer": [table.volunteer_id],
        "class": [table.province, table.school_key, table.class_name],
        "school": [table.province, table.school_key],
        "province": [table.province],
    }
    keys = groupings[by]
    sums = [
        func.sum(table.referred),
        func.sum(table.started),
        func.sum(table.activated),
        func.sum(table.completed_module),
    ]
    if by == "volunteer":
        # One rollup row per volunteer: sort it, no need to group 100,000 rows first.
        statement = (
            select(
                table.volunteer_id,
                table.province,
                table.school,
                table.referred,
                table.started,
                table.activated,
                table.completed_module,
            )
            .where(scope)
            .order_by(table.activated.desc(), table.referred.desc(), table.volunteer_id)
            .limit(limit)
        )
    else:
        statement = (
            select(*keys, func.min(table.province), func.min(table.school), *sums)
            .where(scope)
            .group_by(*keys)
            .order_by(sums[2].desc(), sums[0].desc(), *keys)
            .limit(limit)
        )
    rows = await uow.session.execute(statement)
    names: dict[int, str] = {}
    fetched = rows.all()
    if by == "volunteer" and who.sees_names:
        ids = [int(row[0]) for row in fetched]
        names = dict(
            (
                await uow.session.execute(
                    select(Volunteer.id, Volunteer.name).where(Volunteer.id.in_(ids))
                )
            ).all()
        )
    result = []
    for row in fetched:
        key_values = row[: len(keys)]
        province, school, referred, started, activated, module = row[len(keys) :]
        if by == "volunteer":
            key = str(key_values[0])
            label = names.get(int(key_values[0]), f"#{key}")
        elif by == "class":
            key = "/".join(str(value) for value in key_values)
            label = f"{school} · {key_values[2] or '—'}"
        elif by == "school":
            key = "/".join(str(value) for value in key_values)
            label = str(school)
        else:
            key = str(key_values[0])
            place = provinces.by_code(key)
            label = place.vi if place is not None else key
        result.append(
            VolunteerRow(
                key=key,
                label=label,
                province=str(province),
                referred=int(referred or 0),
                started=int(started or 0),
                activated=int(activated or 0),
                completed_module=int(module or 0),
            )
        )
    return VolunteersReport(by=by, rows=result, as_of=await refreshed_at(uow.session))


# --- routes ---------------------------------------------------------------------------------

ProvinceFilter = Annotated[
    str | None,
    Query(max_length=60, description="Only this province (a code or a name, old names too)"),
]


def narrowed(who: Principal, province: str | None) -> Principal:
    """The caller limited to one province: 422 for an unknown one, 403 outside their scope."""
    if province is None:
        return who
    place = provinces.by_code(province) or provinces.find(province)
    if place is None:
        raise HTTPException(422, f"no province called {province!r}")
    if not who.allows(place.code, who.school_key):
        raise HTTPException(403, "that province is outside this token's scope")
    return replace(who, province=place.code)


@router.get("/reports/progress", response_model=ProgressReport)
async def get_progress(
    request: Request,
    who: Anyone,
    group_by: GroupBy = "province",
    period: Period = "month",
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    province: ProvinceFilter = None,
    limit: Annotated[
        int,
        Query(ge=1, le=1000, description="group_by=school: the schools with most registered"),
    ] = SCHOOLS,
) -> ProgressReport:
    """Learners registered, started, completed a lesson and a module, and equipped, by period."""
    if start is not None and end is not None and end < start:
        raise HTTPException(422, "`to` is before `from`")
    runtime = runtime_of(request)
    async with runtime.database.unit_of_work() as uow:
        return await progress_report(
            uow,
            narrowed(who, province),
            catalog=runtime.catalog,
            group_by=group_by,
            period=period,
            start=start,
            end=end,
            limit=limit,
        )


@router.get("/reports/lessons", response_model=LessonsReport)
async def get_lessons(
    request: Request, who: Anyone, province: ProvinceFilter = None
) -> LessonsReport:
    """Per lesson: the step funnel, completion, median time, stuck hot-spots, item difficulty."""
    runtime = runtime_of(request)
    async with runtime.database.unit_of_work() as uow:
        return await lessons_report(uow, narrowed(who, province), runtime.catalog)


@router.get("/reports/learning-gain", response_model=GainReport)
async def get_gain(request: Request, who: Anyone, province: ProvinceFilter = None) -> GainReport:
    """Per module: the pre-check and post-check scores of people who took both."""
    runtime = runtime_of(request)
    async with runtime.database.unit_of_work() as uow:
        return await gain_report(uow, narrowed(who, province), runtime.catalog)


@router.get("/volunteers", response_model=VolunteersReport)
async def get_volunteers(
    request: Request,
    who: Anyone,
    by: VolunteerGroup = "volunteer",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    province: ProvinceFilter = None,
) -> VolunteersReport:
    """The leaderboard and funnel: referred, started, activated, completed a module."""
    runtime = runtime_of(request)
    async with runtime.database.unit_of_work() as uow:
        return await volunteers_report(uow, narrowed(who, province), by=by, limit=limit)


class Refreshed(BaseModel):
    as_of: datetime | None


@router.post("/reports/refresh", response_model=Refreshed)
async def post_refresh(request: Request, who: AdminOnly) -> Refreshed:
    """Recompute the report rollups now (the worker does it every few minutes)."""
    runtime = runtime_of(request)
    now = runtime.tutor.clock()
    await refresh_rollups(runtime.database, runtime.catalog, now)
    async with runtime.database.unit_of_work() as uow:
        await record(uow, who, "reports.refresh", now)
        await uow.commit()
        return Refreshed(as_of=await refreshed_at(uow.session))

"""Admin API: learners (search, one learner's detail) and the learners and progress CSV exports.

A learner here is a person: the row with `person_id IS NULL`; accounts linked to it on other
channels are folded into it. Its id is the pseudonymous id every route uses. Chat ids
(`external_id`) are never read into a response; names only reach callers who may see them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    any_,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

from admin import audit
from admin.auth import AdminOnly, Anyone, Principal, runtime_of
from bot import privacy, provinces
from bot.engine.lesson import Catalog
from bot.engine.matching import fold
from bot.store.db import UnitOfWork
from bot.store.models import (
    ConversationState,
    HelpRequest,
    Learner,
    LessonProgress,
    Referral,
    Volunteer,
)

router = APIRouter(tags=["learners"])

Channel = Literal["telegram", "zalo_bot", "zalo_oa", "web", "terminal"]
Status = Literal["new", "learning", "active", "equipped", "unreachable"]
MAX_ID = 2**63 - 1
"""The largest id either database stores; a larger one in a URL is a 422, not a 500."""
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
EXPORT_BATCH = 1000
"""Rows per unit of work when exporting: memory stays flat however many learners there are."""


def plain_text(value: str) -> str:
    """Text the databases can store: PostgreSQL refuses NUL, UTF-8 refuses lone surrogates."""
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("text must be valid Unicode") from error
    return value


PlainText = Annotated[str, AfterValidator(plain_text)]


# --- which learners -----------------------------------------------------------------------------


AccountCondition = Callable[[Any], ColumnElement[bool]]


def has_account(*conditions: AccountCondition) -> ColumnElement[bool]:
    """EXISTS an account of the person row `Learner` (itself or linked to it) such that …"""
    account = aliased(Learner)
    return exists().where(
        or_(account.id == Learner.id, account.person_id == Learner.id),
        *(condition(account) for condition in conditions),
    )


def reachable() -> ColumnElement[bool]:
    return has_account(lambda account: account.unreachable_at.is_(None))


def status_condition(status: Status) -> ColumnElement[bool]:
    """Statuses are exclusive: unreachable (every account blocked the bot) comes first."""
    if status == "unreachable":
        return ~reachable()
    milestone: ColumnElement[bool] = {
        "new": Learner.started_at.is_(None),
        "learning": and_(Learner.started_at.is_not(None), Learner.first_lesson_at.is_(None)),
        "active": and_(Learner.first_lesson_at.is_not(None), Learner.equipped_at.is_(None)),
        "equipped": Learner.equipped_at.is_not(None),
    }[status]
    return and_(milestone, reachable())


def status_of(person: PersonRow, unreachable: bool) -> Status:
    if unreachable:
        return "unreachable"
    if person.equipped_at is not None:
        return "equipped"
    if person.first_lesson_at is not None:
        return "active"
    if person.started_at is not None:
        return "learning"
    return "new"


def province_code(text: str) -> str:
    """A province code from a code or a name ("nghe-an", "Nghệ An"); 422 when there is none."""
    place = provinces.by_code(text) or provinces.find(text)
    if place is None:
        raise HTTPException(422, f"no province called {text!r}")
    return place.code


def school_key_of(school: str) -> str:
    key = fold(school)
    if not key:
        raise HTTPException(422, "a school name needs letters or digits")
    return key


def check_place(who: Principal, province: str | None, school_key: str | None) -> None:
    """403 when a scoped caller asks about a place outside their scope."""
    wanted_province = province if province is not None else who.province
    wanted_school = school_key if school_key is not None else who.school_key
    if not who.allows(wanted_province, wanted_school):
        raise HTTPException(403, "that place is outside your scope")


@dataclass(frozen=True)
class LearnerFilters:
    """The filters of /learners and the exports, already checked against the caller's scope."""

    province: str | None = None
    school: str | None = None
    school_key: str | None = None
    channel: Channel | None = None
    status: Status | None = None
    q: str | None = None

    def conditions(self, who: Principal) -> list[ColumnElement[bool]]:
        """Person rows inside the caller's scope that match every filter."""
        conditions = [Learner.person_id.is_(None), who.learners()]
        if self.province is not None:
            conditions.append(Learner.province == self.province)
        if self.school_key is not None:
            conditions.append(Learner.school_key == self.school_key)
        if self.channel is not None:
            channel = self.channel
            conditions.append(has_account(lambda account: account.channel == channel))
        if self.status is not None:
            conditions.append(status_condition(self.status))
        if self.q is not None:
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern += "%"
            conditions.append(
                has_account(lambda account: account.display_name.ilike(pattern, escape="\\"))
            )
        return conditions

    def describe(self) -> dict[str, str | None]:
        """For the audit log."""
        return {
            "province": self.province,
            "school": self.school,
            "channel": self.channel,
            "status": self.status,
            "q": self.q,
        }


def learner_filters(
    who: Anyone,
    province: Annotated[
        PlainText | None, Query(max_length=60, description="a province code or name")
    ] = None,
    school: Annotated[
        PlainText | None,
        Query(min_length=1, max_length=120, description="a school name, any accents or case"),
    ] = None,
    channel: Annotated[
        Channel | None, Query(description="people with an account on this channel")
    ] = None,
    status: Annotated[
        Status | None,
        Query(
            description=(
                "new: no lesson started; learning: started, none completed; active: at least "
                "one lesson completed, not equipped; equipped: every core module completed; "
                "unreachable: every account blocked the bot (whatever the milestones)"
            )
        ),
    ] = None,
    q: Annotated[
        PlainText | None,
        Query(
            min_length=1,
            max_length=64,
            description="display name contains (admins and viewers only)",
        ),
    ] = None,
) -> LearnerFilters:
    if q is not None and not who.sees_names:
        raise HTTPException(403, "searching by name needs a role that sees names")
    code = None if province is None else province_code(province)
    key = None if school is None else school_key_of(school)
    check_place(who, code, key)
    return LearnerFilters(
        province=code, school=school, school_key=key, channel=channel, status=status, q=q
    )


Filters = Annotated[LearnerFilters, Depends(learner_filters)]


def among(uow: UnitOfWork, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL as one array parameter (binding a thousand separate
    parameters costs more than the query)."""
    if uow.session.get_bind().dialect.name == "postgresql":
        condition: ColumnElement[bool] = column == any_(literal(list(ids), ARRAY(BigInteger)))
        return condition
    found: ColumnElement[bool] = column.in_(ids)
    return found


# --- reading people in pages --------------------------------------------------------------------


@dataclass(frozen=True)
class PersonRow:
    id: int
    province: str | None
    school_key: str | None
    created_at: datetime
    started_at: datetime | None
    first_lesson_at: datetime | None
    first_module_at: datetime | None
    equipped_at: datetime | None


@dataclass(frozen=True)
class Summary:
    """One person as the list and learners.csv show them."""

    person: PersonRow
    channels: tuple[str, ...]
    last_active_at: datetime
    status: Status
    lessons_completed: int
    display_name: str | None


PERSON_COLUMNS = (
    Learner.id,
    Learner.province,
    Learner.school_key,
    Learner.created_at,
    Learner.started_at,
    Learner.first_lesson_at,
    Learner.first_module_at,
    Learner.equipped_at,
)


async def people(
    uow: UnitOfWork, conditions: Sequence[ColumnElement[bool]], after: int, limit: int
) -> list[PersonRow]:
    """A keyset page of person rows: ids above `after`, in id order."""
    result = await uow.session.execute(
        select(*PERSON_COLUMNS)
        .where(*conditions, Learner.id > after, Learner.erased_at.is_(None))
        .order_by(Learner.id)
        .limit(limit)
    )
    return [PersonRow(*row) for row in result.all()]


@dataclass
class _Accounts:
    channels: list[str]
    last_active_at: datetime | None = None
    reachable: bool = False
    name: str | None = None
    own_name: str | None = None


async def summaries(uow: UnitOfWork, persons: Sequence[PersonRow]) -> list[Summary]:
    """Add to each person what their accounts and progress say (two queries for the page)."""
    if not persons:
        return []
    ids = [person.id for person in persons]
    owner = func.coalesce(Learner.person_id, Learner.id)
    accounts = await uow.session.execute(
        select(
            owner,
            Learner.id,
            Learner.channel,
            Learner.last_active_at,
            Learner.unreachable_at,
            Learner.display_name,
        )
        .where(or_(among(uow, Learner.id, ids), among(uow, Learner.person_id, ids)))
        .order_by(owner, Learner.last_active_at.desc(), Learner.id)
    )
    found: dict[int, _Accounts] = {}
    for person_id, account_id, channel, last_active, unreachable_at, name in accounts.all():
        entry = found.setdefault(person_id, _Accounts(channels=[]))
        if channel not in entry.channels:
            entry.channels.append(channel)
        if entry.last_active_at is None or last_active > entry.last_active_at:
            entry.last_active_at = last_active
        entry.reachable = entry.reachable or unreachable_at is None
        if name is not None:
            if account_id == person_id:
                entry.own_name = name
            elif entry.name is None:
                entry.name = name  # the most recently active linked account's
    completed = dict(
        (
            await uow.session.execute(
                select(LessonProgress.learner_id, func.count())
                .where(
                    among(uow, LessonProgress.learner_id, ids),
                    LessonProgress.status == "completed",
                )
                .group_by(LessonProgress.learner_id)
            )
        ).all()
    )
    result = []
    for person in persons:
        entry = found.get(person.id, _Accounts(channels=[]))
        result.append(
            Summary(
                person=person,
                channels=tuple(entry.channels),
                last_active_at=entry.last_active_at or person.created_at,
                status=status_of(person, unreachable=not entry.reachable),
                lessons_completed=int(completed.get(person.id, 0)),
                display_name=entry.own_name or entry.name,
            )
        )
    return result


class Documented(BaseModel):
    """A model whose attribute docstrings become field descriptions in the OpenAPI schema."""

    model_config = ConfigDict(use_attribute_docstrings=True)


# --- GET /learners ------------------------------------------------------------------------------


class Milestones(Documented):
    started_at: datetime | None
    """First lesson opened."""
    first_lesson_at: datetime | None
    first_module_at: datetime | None
    equipped_at: datetime | None
    """Every core module completed."""


class LearnerItem(Documented):
    id: int
    """The person's pseudonymous id."""
    channels: list[str]
    """Channels of the person's accounts, most recently used first."""
    province: str | None
    school_key: str | None
    status: Status
    created_at: datetime
    last_active_at: datetime
    """The latest activity on any of the person's accounts."""
    milestones: Milestones
    lessons_completed: int
    display_name: str | None = None
    """Only for roles that see names (never for analysts)."""


class LearnerPage(Documented):
    items: list[LearnerItem]
    next: int | None
    """Pass as `after` for the next page; null on the last page."""


def item(summary: Summary, who: Principal) -> LearnerItem:
    person = summary.person
    return LearnerItem(
        id=person.id,
        channels=list(summary.channels),
        province=person.province,
        school_key=person.school_key,
        status=summary.status,
        created_at=person.created_at,
        last_active_at=summary.last_active_at,
        milestones=Milestones(
            started_at=person.started_at,
            first_lesson_at=person.first_lesson_at,
            first_module_at=person.first_module_at,
            equipped_at=person.equipped_at,
        ),
        lessons_completed=summary.lessons_completed,
        display_name=summary.display_name if who.sees_names else None,
    )


@router.get("/learners", response_model=LearnerPage)
async def list_learners(
    request: Request,
    who: Anyone,
    filters: Filters,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="the last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> LearnerPage:
    """People in the caller's scope matching the filters, in id order, one keyset page."""
    async with runtime_of(request).database.unit_of_work() as uow:
        persons = await people(uow, filters.conditions(who), after, limit + 1)
        more = len(persons) > limit
        page = await summaries(uow, persons[:limit])
    return LearnerPage(
        items=[item(summary, who) for summary in page],
        next=page[-1].person.id if more else None,
    )


# --- GET /learners/{id} -------------------------------------------------------------------------


class Account(Documented):
    """One channel account of the person (its chat id stays inside the system)."""

    channel: str
    locale: str
    created_at: datetime
    last_active_at: datetime
    unreachable_at: datetime | None
    """Set while the learner has blocked the bot on this channel."""


class LessonRow(Documented):
    lesson_id: str
    module_id: str | None
    title_vi: str | None
    title_en: str | None
    """None for a lesson no longer in the catalog."""
    status: Literal["started", "completed"]
    current_step: int
    steps: int | None
    correct: int
    answered: int
    stuck_count: int
    assisted: bool
    """Last completed with a helper beside the learner."""
    started_at: datetime
    completed_at: datetime | None


class Score(Documented):
    correct: int
    total: int


class ModuleChecks(Documented):
    module_id: str
    title_vi: str | None
    title_en: str | None
    pre: Score | None
    """The check before the module's lessons."""
    post: Score | None
    """The check after them."""


class VolunteerInfo(Documented):
    """The volunteer who brought the learner in."""

    name: str | None
    """Only for roles that see names."""
    school: str
    class_name: str
    province: str
    nickname: str | None
    """What the volunteer calls the learner; only for roles that see names."""
    joined_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None
    """When the learner stopped sharing their progress with the volunteer."""


class StuckRow(Documented):
    """An "I'm stuck" tap, and how it was answered."""

    lesson_id: str
    title_vi: str | None
    title_en: str | None
    step: int
    """The step's index in the lesson, from 0."""
    step_id: str
    at: datetime
    volunteer_told: bool
    answer: Literal["call", "tip"] | None
    answered_at: datetime | None
    resolved_at: datetime | None
    """When the learner got past the step."""


class LearnerDetail(Documented):
    learner: LearnerItem
    accounts: list[Account]
    lessons: list[LessonRow]
    """The progress timeline, in the order lessons were started."""
    checks: list[ModuleChecks]
    volunteer: VolunteerInfo | None
    stuck: list[StuckRow]


def _titles(catalog: Catalog, lesson_id: str) -> tuple[str | None, str | None]:
    lesson = catalog.lesson(lesson_id)
    return (None, None) if lesson is None else (lesson.title.vi, lesson.title.en)


def _checks(catalog: Catalog, state: dict[str, Any] | None) -> list[ModuleChecks]:
    """Pre/post scores from the conversation state's `checks` ("<module>:<pre|post>")."""
    raw = (state or {}).get("checks") or {}
    scores: dict[str, dict[str, Score]] = {}
    for key, value in raw.items() if isinstance(raw, dict) else ():
        module_id, _, phase = str(key).rpartition(":")
        if phase not in ("pre", "post") or not isinstance(value, dict):
            continue
        try:
            score = Score(correct=int(value["correct"]), total=int(value["total"]))
        except (KeyError, TypeError, ValueError):
            continue
        scores.setdefault(module_id, {})[phase] = score
    order = {module.id: index for index, module in enumerate(catalog.modules)}
    rows = []
    for module_id in sorted(scores, key=lambda m: (order.get(m, len(order)), m)):
        module = catalog.module(module_id)
        rows.append(
            ModuleChecks(
                module_id=module_id,
                title_vi=None if module is None else module.title.vi,
                title_en=None if module is None else module.title.en,
                pre=scores[module_id].get("pre"),
                post=scores[module_id].get("post"),
            )
        )
    return rows


async def _person_in_scope(uow: UnitOfWork, who: Principal, learner_id: int) -> int:
    persons = await people(
        uow, [Learner.person_id.is_(None), who.learners(), Learner.id == learner_id], 0, 1
    )
    if not persons:
        raise HTTPException(404, "no such learner")
    return learner_id


@router.get(
    "/learners/{learner_id}/data",
    responses={404: {"description": "no such learner"}},
)
async def learner_data(
    request: Request,
    who: AdminOnly,
    learner_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> dict[str, Any]:
    """Everything the database holds about one person, as /mydata gives it to them (for a
    request made to the organisation). Audit-logged."""
    runtime = runtime_of(request)
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        person = await _person_in_scope(uow, who, learner_id)
        data = await privacy.collect(uow, person, now)
        await audit.record(uow, who, "learner.data", now, learner=person)
        await uow.commit()
    return data


class Erasure(BaseModel):
    reason: Annotated[str, Field(min_length=3, max_length=300)]
    """Why (the learner's request, how it came in); kept in the audit log."""


@router.post(
    "/learners/{learner_id}/erase",
    responses={404: {"description": "no such learner"}},
)
async def erase_learner(
    request: Request,
    who: AdminOnly,
    learner_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: Erasure,
) -> dict[str, Any]:
    """Erase one person on their request, as /forget does: rows deleted, pending messages
    cancelled, certificates revoked. The audit log keeps that it happened, not who it was."""
    runtime = runtime_of(request)
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        person = await _person_in_scope(uow, who, learner_id)
        erased = await privacy.erase(uow, person, now)
        await audit.record(
            uow, who, "learner.erase", now, accounts=len(erased.ids), reason=body.reason
        )
        await uow.commit()
    await runtime.tutor.recent.forget(erased.accounts, erased.ids)
    return {"erased_accounts": len(erased.ids)}


@router.get(
    "/learners/{learner_id}",
    response_model=LearnerDetail,
    responses={404: {"description": "no such learner in the caller's scope"}},
)
async def learner_detail(
    request: Request,
    who: Anyone,
    learner_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> LearnerDetail:
    """One person: progress timeline, check scores, their volunteer and where they got stuck.

    A learner outside the caller's scope is answered like an unknown one (404).
    """
    catalog = runtime_of(request).catalog
    async with runtime_of(request).database.unit_of_work() as uow:
        persons = await people(
            uow,
            [Learner.person_id.is_(None), who.learners(), Learner.id == learner_id],
            after=0,
            limit=1,
        )
        if not persons:
            raise HTTPException(404, "no such learner")
        (summary,) = await summaries(uow, persons)
        accounts = (
            await uow.session.execute(
                select(
                    Learner.channel,
                    Learner.locale,
                    Learner.created_at,
                    Learner.last_active_at,
                    Learner.unreachable_at,
                )
                .where(or_(Learner.id == learner_id, Learner.person_id == learner_id))
                .order_by(Learner.last_active_at.desc(), Learner.id)
            )
        ).all()
        progress = (
            await uow.session.scalars(
                select(LessonProgress)
                .where(LessonProgress.learner_id == learner_id)
                .order_by(LessonProgress.started_at, LessonProgress.lesson_id)
            )
        ).all()
        state = await uow.session.get(ConversationState, learner_id)
        helper = (
            await uow.session.execute(
                select(Referral, Volunteer)
                .join(Volunteer, Volunteer.id == Referral.volunteer_id)
                .join(Learner, Learner.id == Referral.learner_id)
                .where(or_(Learner.id == learner_id, Learner.person_id == learner_id))
                .order_by(Referral.joined_at)
                .limit(1)
            )
        ).first()
        requests = (
            await uow.session.scalars(
                select(HelpRequest)
                .where(HelpRequest.learner_id == learner_id)
                .order_by(HelpRequest.id)
            )
        ).all()
    lessons = []
    for row in progress:
        lesson = catalog.lesson(row.lesson_id)
        module = catalog.module_of(row.lesson_id)
        lessons.append(
            LessonRow(
                lesson_id=row.lesson_id,
                module_id=None if module is None else module.id,
                title_vi=None if lesson is None else lesson.title.vi,
                title_en=None if lesson is None else lesson.title.en,
                status="completed" if row.status == "completed" else "started",
                current_step=row.current_step,
                steps=None if lesson is None else len(lesson.steps),
                correct=row.correct,
                answered=row.answered,
                stuck_count=row.stuck_count,
                assisted=row.assisted,
                started_at=row.started_at,
                completed_at=row.completed_at,
            )
        )
    volunteer = None
    if helper is not None:
        referral, found = helper
        volunteer = VolunteerInfo(
            name=found.name if who.sees_names else None,
            school=found.school,
            class_name=found.class_name,
            province=found.province,
            nickname=referral.nickname if who.sees_names else None,
            joined_at=referral.joined_at,
            activated_at=referral.activated_at,
            ended_at=referral.ended_at,
        )
    stuck = []
    for request_row in requests:
        title_vi, title_en = _titles(catalog, request_row.lesson_id)
        answer: Literal["call", "tip"] | None = (
            "call"
            if request_row.answer == "call"
            else "tip"
            if request_row.answer == "tip"
            else None
        )
        stuck.append(
            StuckRow(
                lesson_id=request_row.lesson_id,
                title_vi=title_vi,
                title_en=title_en,
                step=request_row.step,
                step_id=request_row.step_id,
                at=request_row.created_at,
                volunteer_told=request_row.volunteer_id is not None,
                answer=answer,
                answered_at=request_row.answered_at,
                resolved_at=request_row.resolved_at,
            )
        )
    return LearnerDetail(
        learner=item(summary, who),
        accounts=[Account(**row._mapping) for row in accounts],
        lessons=lessons,
        checks=_checks(catalog, None if state is None else dict(state.state)),
        volunteer=volunteer,
        stuck=stuck,
    )


# --- CSV exports --------------------------------------------------------------------------------

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV, UTF-8"}
}
BOM = "\ufeff"
"""Excel reads a UTF-8 file as UTF-8 (Vietnamese names intact) only with this mark."""


def cell(value: object) -> object:
    """A CSV cell: ISO times, and free text that a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_chunk(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([[cell(value) for value in row] for row in rows])
    return buffer.getvalue()


def attachment(stream: AsyncIterator[str], name: str, now: datetime) -> StreamingResponse:
    filename = f"camtay-{name}-{now:%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        stream,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


LEARNER_COLUMNS = (
    "id",
    "channels",
    "province",
    "school_key",
    "status",
    "created_at",
    "last_active_at",
    "started_at",
    "first_lesson_at",
    "first_module_at",
    "equipped_at",
    "lessons_completed",
)


@router.get("/exports/learners.csv", response_class=StreamingResponse, responses=CSV_RESPONSE)
async def export_learners(request: Request, who: Anyone, filters: Filters) -> StreamingResponse:
    """Every person in the caller's scope matching the filters, one row each, in id order.

    Read in keyset batches, each in its own short unit of work, so a million rows stream in
    flat memory. Display names only for roles that see names; chat ids never.
    """
    runtime = runtime_of(request)
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        await audit.record(uow, who, "export.learners", now, filters=filters.describe())
        await uow.commit()
    conditions = filters.conditions(who)
    names = who.sees_names

    async def stream() -> AsyncIterator[str]:
        yield BOM + csv_chunk([[*LEARNER_COLUMNS, *(["display_name"] if names else [])]])
        after = 0
        while True:
            async with runtime.database.unit_of_work() as uow:
                batch = await summaries(uow, await people(uow, conditions, after, EXPORT_BATCH))
            if not batch:
                return
            yield csv_chunk(
                [
                    [
                        s.person.id,
                        " ".join(s.channels),
                        s.person.province,
                        s.person.school_key,
                        s.status,
                        s.person.created_at,
                        s.last_active_at,
                        s.person.started_at,
                        s.person.first_lesson_at,
                        s.person.first_module_at,
                        s.person.equipped_at,
                        s.lessons_completed,
                        *([s.display_name] if names else []),
                    ]
                    for s in batch
                ]
            )
            if len(batch) < EXPORT_BATCH:
                return
            after = batch[-1].person.id

    return attachment(stream(), "learners", now)


PROGRESS_COLUMNS = (
    "learner_id",
    "province",
    "school_key",
    "module_id",
    "lesson_id",
    "status",
    "current_step",
    "correct",
    "answered",
    "stuck_count",
    "assisted",
    "started_at",
    "completed_at",
)


async def _names(uow: UnitOfWork, ids: Sequence[int]) -> dict[int, str]:
    """Display names of these people: their own row's, else a linked account's."""
    owner = func.coalesce(Learner.person_id, Learner.id)
    rows = await uow.session.execute(
        select(owner, Learner.display_name)
        .where(
            or_(among(uow, Learner.id, ids), among(uow, Learner.person_id, ids)),
            Learner.display_name.is_not(None),
        )
        .order_by(owner, Learner.person_id.is_not(None), Learner.last_active_at.desc())
    )
    names: dict[int, str] = {}
    for person, name in rows.all():
        if name is not None:
            names.setdefault(person, name)
    return names


@router.get("/exports/progress.csv", response_class=StreamingResponse, responses=CSV_RESPONSE)
async def export_progress(request: Request, who: Anyone, filters: Filters) -> StreamingResponse:
    """One row per (person, lesson opened) for the people `learners.csv` would list.

    Batched by the (learner, lesson) key like learners.csv; no chat ids, names only for roles
    that see names.
    """
    runtime = runtime_of(request)
    catalog = runtime.catalog
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        await audit.record(uow, who, "export.progress", now, filters=filters.describe())
        await uow.commit()
    conditions = filters.conditions(who)
    names = who.sees_names

    async def stream() -> AsyncIterator[str]:
        yield BOM + csv_chunk([[*PROGRESS_COLUMNS, *(["display_name"] if names else [])]])
        last: tuple[int, str] = (0, "")
        while True:
            async with runtime.database.unit_of_work() as uow:
                rows = (
                    await uow.session.execute(
                        select(
                            LessonProgress.learner_id,
                            Learner.province,
                            Learner.school_key,
                            LessonProgress.lesson_id,
                            LessonProgress.status,
                            LessonProgress.current_step,
                            LessonProgress.correct,
                            LessonProgress.answered,
                            LessonProgress.stuck_count,
                            LessonProgress.assisted,
                            LessonProgress.started_at,
                            LessonProgress.completed_at,
                        )
                        .join(Learner, Learner.id == LessonProgress.learner_id)
                        .where(
                            *conditions,
                            # A row comparison, so the primary key seeks to the cursor (an OR
                            # of the two columns is a filter: every batch read all rows before
                            # it), and the same bound on the person for the join.
                            tuple_(LessonProgress.learner_id, LessonProgress.lesson_id)
                            > tuple_(literal(last[0]), literal(last[1])),
                            Learner.id >= last[0],
                        )
                        .order_by(LessonProgress.learner_id, LessonProgress.lesson_id)
                        .limit(EXPORT_BATCH)
                    )
                ).all()
                found = (
                    await _names(uow, sorted({row[0] for row in rows})) if names and rows else {}
                )
            if not rows:
                return
            out = []
            for row in rows:
                module = catalog.module_of(row.lesson_id)
                out.append(
                    [
                        row.learner_id,
                        row.province,
                        row.school_key,
                        None if module is None else module.id,
                        row.lesson_id,
                        row.status,
                        row.current_step,
                        row.correct,
                        row.answered,
                        row.stuck_count,
                        row.assisted,
                        row.started_at,
                        row.completed_at,
                        *([found.get(row.learner_id)] if names else []),
                    ]
                )
            yield csv_chunk(out)
            if len(rows) < EXPORT_BATCH:
                return
            last = (rows[-1].learner_id, rows[-1].lesson_id)

    return attachment(stream(), "progress", now)

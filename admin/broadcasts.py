"""Admin API: broadcasts, announcements to a segment of learners sent through the outbox.

Only push channels (Telegram, Zalo Bot, Zalo OA) can reach a learner who is away: the web chat
and the terminal only answer while the learner has them open, so their accounts never receive
a broadcast. Queueing writes one outbox message per person; the outbox worker then sends them
at each platform's pace, replies to learners first (broadcasts have the bulk priority).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import ConfigDict, Field, field_validator, model_validator
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import aliased

from admin import audit
from admin.auth import AdminOrViewer, Principal, runtime_of
from admin.learners import (
    MAX_ID,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    Documented,
    PlainText,
    check_place,
    has_account,
    province_code,
    school_key_of,
)
from bot.engine import TextReply
from bot.engine.lesson import Catalog
from bot.store.db import UnitOfWork
from bot.store.models import (
    BULK_PRIORITY,
    Broadcast,
    JSONType,
    Learner,
    LessonProgress,
    OutboxMessage,
    UTCDateTime,
)
from bot.wiring import Runtime

router = APIRouter(tags=["broadcasts"])

PUSH_CHANNELS = ("telegram", "zalo_bot", "zalo_oa")
"""Channels that can write to a learner who is not in the chat right now."""
QUEUE_BATCH = 1000
"""People per unit of work when queueing: a million recipients never sit in memory at once."""


# --- the segment --------------------------------------------------------------------------------


class Segment(Documented):
    """Who receives a broadcast: every given condition must hold (and the caller's scope)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    province: Annotated[PlainText, Field(min_length=1, max_length=60)] | None = None
    """A province code or name."""
    school: Annotated[PlainText, Field(min_length=1, max_length=120)] | None = None
    """A school name; accents, case and punctuation do not matter."""
    module: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """A module id; goes with module_status."""
    module_status: Literal["completed", "not_completed"] | None = None
    """completed: every lesson of the module completed; not_completed: the others."""
    inactive_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    """No activity on any of the person's accounts for this many days, counted at send time."""

    @model_validator(mode="after")
    def _module_and_status(self) -> Segment:
        if (self.module is None) != (self.module_status is None):
            raise ValueError("module and module_status go together")
        return self


class Scope(Documented):
    """The place of the token that made the broadcast; its learners never leave it."""

    province: str | None
    school_key: str | None


class SegmentOut(Documented):
    province: str | None
    school: str | None
    school_key: str | None
    module: str | None
    module_status: Literal["completed", "not_completed"] | None
    inactive_days: int | None
    scope: Scope


def resolve(who: Principal, segment: Segment, catalog: Catalog) -> SegmentOut:
    """The segment as stored: province as a code, the school folded, the caller's scope added.

    422 for an unknown province or module; 403 when a viewer names a place outside their scope.
    """
    province = None if segment.province is None else province_code(segment.province)
    school_key = None if segment.school is None else school_key_of(segment.school)
    check_place(who, province, school_key)
    if segment.module is not None and catalog.module(segment.module) is None:
        raise HTTPException(422, f"no module {segment.module!r}")
    return SegmentOut(
        province=province,
        school=segment.school,
        school_key=school_key,
        module=segment.module,
        module_status=segment.module_status,
        inactive_days=segment.inactive_days,
        scope=Scope(province=who.province, school_key=who.school_key),
    )


def recipients(segment: SegmentOut, catalog: Catalog, now: datetime) -> list[ColumnElement[bool]]:
    """Person rows the segment chooses that a push channel can reach."""
    conditions: list[ColumnElement[bool]] = [Learner.person_id.is_(None)]
    for province, school_key in (
        (segment.scope.province, segment.scope.school_key),
        (segment.province, segment.school_key),
    ):
        if province is not None:
            conditions.append(Learner.province == province)
        if school_key is not None:
            conditions.append(Learner.school_key == school_key)
    if segment.module is not None:
        module = catalog.module(segment.module)
        if module is None:
            raise HTTPException(409, f"the module {segment.module!r} is no longer in the lessons")
        completed = (
            select(func.count())
            .select_from(LessonProgress)
            .where(
                LessonProgress.learner_id == Learner.id,
                LessonProgress.lesson_id.in_(module.lessons),
                LessonProgress.status == "completed",
            )
            .scalar_subquery()
        )
        everything = len(set(module.lessons))
        conditions.append(
            completed >= everything
            if segment.module_status == "completed"
            else completed < everything
        )
    if segment.inactive_days is not None:
        since = now - timedelta(days=segment.inactive_days)
        conditions.append(~has_account(lambda account: account.last_active_at >= since))
    conditions.append(
        has_account(
            lambda account: account.channel.in_(PUSH_CHANNELS),
            lambda account: account.unreachable_at.is_(None),
        )
    )
    return conditions


def _scope(key: str) -> ColumnElement[str]:
    """The stored scope's `key`, read from the segment JSON on either database."""
    value: ColumnElement[str] = Broadcast.segment[("scope", key)].as_string()
    return value


def visible(who: Principal) -> ColumnElement[bool]:
    """Broadcasts made inside the caller's scope: a viewer never sees an admin's, nor another
    place's."""
    if who.province is None:
        return true()
    condition = _scope("province") == who.province
    if who.school_key is not None:
        condition = and_(condition, _scope("school_key") == who.school_key)
    return condition


# --- responses ----------------------------------------------------------------------------------


class PreviewRequest(Documented):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    segment: Segment = Field(default_factory=Segment)


class Preview(Documented):
    recipients: int
    """People the segment chooses who have an account on a push channel that has not blocked
    the bot."""


class BroadcastRequest(Documented):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    text_vi: Annotated[PlainText, Field(min_length=1, max_length=1000)]
    text_en: Annotated[PlainText, Field(min_length=1, max_length=1000)]
    segment: Segment = Field(default_factory=Segment)

    @field_validator("text_vi", "text_en")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the text is empty")
        return value


class Counts(Documented):
    """The broadcast's outbox messages by status."""

    queued: int = 0
    """Waiting for the outbox worker."""
    sent: int = 0
    failed: int = 0
    """Given up after repeated errors."""
    held: int = 0
    """Kept back by a channel's rules, e.g. outside Zalo OA's 48-hour window."""
    cancelled: int = 0
    """The learner blocked the bot before it was sent."""


COUNT_OF = {
    "pending": "queued",
    "sent": "sent",
    "failed": "failed",
    "held": "held",
    "cancelled": "cancelled",
}


class BroadcastOut(Documented):
    id: int
    created_at: datetime
    author: str
    text_vi: str
    text_en: str
    segment: SegmentOut
    status: Literal["draft", "queueing", "queued"]
    """queueing: messages are being written to the outbox (large segments, in batches)."""
    recipients: int
    """Messages queued so far (one per person)."""
    queued_at: datetime | None
    counts: Counts


class BroadcastPage(Documented):
    items: list[BroadcastOut]
    next: int | None
    """Pass as `before` for the next (older) page; null on the last page."""


async def counts(uow: UnitOfWork, ids: list[int]) -> dict[int, Counts]:
    found: dict[int, Counts] = {broadcast_id: Counts() for broadcast_id in ids}
    if not ids:
        return found
    rows = await uow.session.execute(
        select(OutboxMessage.broadcast_id, OutboxMessage.status, func.count())
        .where(OutboxMessage.broadcast_id.in_(ids))
        .group_by(OutboxMessage.broadcast_id, OutboxMessage.status)
    )
    for broadcast_id, status, number in rows.all():
        name = COUNT_OF.get(status)
        if broadcast_id is not None and name is not None:
            setattr(found[broadcast_id], name, int(number))
    return found


def out(row: Broadcast, tally: Counts) -> BroadcastOut:
    status: Literal["draft", "queueing", "queued"] = (
        "queued" if row.status == "queued" else "queueing" if row.status == "queueing" else "draft"
    )
    return BroadcastOut(
        id=row.id,
        created_at=row.created_at,
        author=row.author,
        text_vi=row.text_vi,
        text_en=row.text_en,
        segment=SegmentOut.model_validate(row.segment),
        status=status,
        recipients=row.recipients,
        queued_at=row.queued_at,
        counts=tally,
    )


async def find(uow: UnitOfWork, who: Principal, broadcast_id: int) -> Broadcast:
    """The broadcast if the caller may see it; 404 otherwise (existence is not revealed)."""
    row = await uow.session.scalar(
        select(Broadcast).where(Broadcast.id == broadcast_id, visible(who))
    )
    if row is None:
        raise HTTPException(404, "no such broadcast")
    return row


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such broadcast in the caller's scope"}
}


# --- routes -------------------------------------------------------------------------------------


@router.post("/broadcasts/preview", response_model=Preview)
async def preview(request: Request, who: AdminOrViewer, body: PreviewRequest) -> Preview:
    """How many people a segment reaches now.

    Only accounts on push channels (telegram, zalo_bot, zalo_oa) that have not blocked the bot
    count: the web chat and the terminal cannot reach a learner who is away.
    """
    runtime = runtime_of(request)
    segment = resolve(who, body.segment, runtime.catalog)
    conditions = recipients(segment, runtime.catalog, runtime.tutor.clock())
    async with runtime.database.unit_of_work() as uow:
        number = await uow.session.scalar(select(func.count()).where(*conditions))
    return Preview(recipients=int(number or 0))


@router.post("/broadcasts", response_model=BroadcastOut, status_code=201)
async def create(request: Request, who: AdminOrViewer, body: BroadcastRequest) -> BroadcastOut:
    """A draft broadcast; nothing is sent until `POST /broadcasts/{id}/send`.

    A viewer's segment is kept inside their place.
    """
    runtime = runtime_of(request)
    segment = resolve(who, body.segment, runtime.catalog)
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        row = Broadcast(
            created_at=now,
            token_id=who.token_id,
            author=who.name,
            text_vi=body.text_vi,
            text_en=body.text_en,
            segment=segment.model_dump(mode="json"),
            status="draft",
            recipients=0,
        )
        uow.session.add(row)
        await uow.session.flush()
        await audit.record(
            uow, who, "broadcast.create", now, broadcast_id=row.id, segment=row.segment
        )
        await uow.commit()
    return out(row, Counts())


@router.get("/broadcasts", response_model=BroadcastPage)
async def list_broadcasts(
    request: Request,
    who: AdminOrViewer,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the last id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> BroadcastPage:
    """Broadcasts made in the caller's scope, newest first."""
    query = select(Broadcast).where(visible(who))
    if before is not None:
        query = query.where(Broadcast.id < before)
    async with runtime_of(request).database.unit_of_work() as uow:
        rows = list(
            (await uow.session.scalars(query.order_by(Broadcast.id.desc()).limit(limit + 1))).all()
        )
        more = len(rows) > limit
        rows = rows[:limit]
        tallies = await counts(uow, [row.id for row in rows])
    return BroadcastPage(
        items=[out(row, tallies[row.id]) for row in rows],
        next=rows[-1].id if more else None,
    )


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastOut, responses=NOT_FOUND)
async def get_broadcast(
    request: Request,
    who: AdminOrViewer,
    broadcast_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> BroadcastOut:
    """A broadcast and its messages by status: queued, sent, failed, held, cancelled."""
    async with runtime_of(request).database.unit_of_work() as uow:
        row = await find(uow, who, broadcast_id)
        tally = (await counts(uow, [row.id]))[row.id]
    return out(row, tally)


@router.post(
    "/broadcasts/{broadcast_id}/send",
    response_model=BroadcastOut,
    responses={**NOT_FOUND, 409: {"description": "already sent"}},
)
async def send(
    request: Request,
    who: AdminOrViewer,
    broadcast_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> BroadcastOut:
    """Queue one message per person of the segment, on the account that reaches them.

    That account is the person's most recently used one on a push channel that has not blocked
    the bot, and the text is in its language. People are queued in batches, each batch in its
    own short transaction, so the bot keeps answering learners meanwhile; the outbox worker
    then sends at the platforms' pace, replies to learners before these bulk messages.
    A broadcast is sent once: a second request gets 409.
    """
    runtime = runtime_of(request)
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        row = await find(uow, who, broadcast_id)
        if row.status != "draft":
            raise HTTPException(409, "this broadcast was already sent")
        # Checked before the claim: a segment that cannot be sent any more leaves a draft.
        recipients(SegmentOut.model_validate(row.segment), runtime.catalog, now)
        # Claimed with a conditional update: of two concurrent sends, only one queues.
        claimed = await uow.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == "draft")
            .values(status="queueing", queued_at=now, queued_through=0)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            raise HTTPException(409, "this broadcast was already sent")
        await audit.record(uow, who, "broadcast.send", now, broadcast_id=broadcast_id)
        await uow.commit()
    # The first batch inline: a small segment is all queued when this answers. A large one
    # goes on in the background; if this process stops, any process's upkeep resumes it.
    if not await queue_step(runtime, broadcast_id):
        keep(
            asyncio.create_task(queue_all(runtime, broadcast_id), name=f"broadcast-{broadcast_id}")
        )
    async with runtime.database.unit_of_work() as uow:
        row = await find(uow, who, broadcast_id)
        tally = (await counts(uow, [row.id]))[row.id]
    return out(row, tally)


_running: set[asyncio.Task[None]] = set()


def keep(task: asyncio.Task[None]) -> None:
    """Hold a reference to a background task until it ends (asyncio keeps only weak ones)."""
    _running.add(task)
    task.add_done_callback(_running.discard)


async def queue_step(runtime: Runtime, broadcast_id: int) -> bool:
    """Queue the next batch of a broadcast being queued; True once it is all in the outbox.

    The broadcast's row is locked for the batch and its cursor moves in the same transaction
    as the batch's messages, so two processes resuming the same broadcast queue each person
    once, and a crash between batches loses or repeats nothing.
    """
    async with runtime.database.unit_of_work() as uow:
        row = await uow.session.get(Broadcast, broadcast_id, with_for_update=True)
        if row is None or row.status != "queueing":
            return True
        conditions = recipients(
            SegmentOut.model_validate(row.segment), runtime.catalog, row.queued_at or row.created_at
        )
        payloads = {
            "vi": TextReply(text=row.text_vi).model_dump(),
            "en": TextReply(text=row.text_en).model_dump(),
        }
        before = row.recipients
        last, queued = await queue_batch(
            uow, broadcast_id, conditions, payloads, row.queued_through, runtime.tutor.clock()
        )
        if last is None:
            row.status = "queued"
        else:
            row.queued_through = last
        await uow.commit()
    runtime.worker.notify()  # an embedded worker starts on this batch right away
    if doubled(before, before + queued):
        async with runtime.database.unit_of_work() as uow:
            await uow.outbox.analyze()
            await uow.commit()
    return last is None


def doubled(before: int, after: int) -> bool:
    """Whether a broadcast's queued messages just went past 1, 2, 4, 8, … batches.

    A bulk load changes what the outbox holds faster than PostgreSQL's statistics follow
    (autovacuum analyses a table a minute or more later, or never where it is off), and every
    connection keeps the plans it made for the worker's claims while the outbox was small: with
    100,000 messages pending, such a plan read every pending row for each claim, and the worker
    sent 10 a second instead of 29 (`bench/README.md`). So queueing refreshes the statistics
    each time the broadcast doubles, which also makes every connection plan its claims again:
    a handful of `ANALYZE`s for the largest broadcast.
    """
    return (after // QUEUE_BATCH).bit_length() > (before // QUEUE_BATCH).bit_length()


async def queue_all(runtime: Runtime, broadcast_id: int) -> None:
    while not await queue_step(runtime, broadcast_id):
        pass


async def resume(runtime: Runtime) -> None:
    """Finish queueing broadcasts left half-way (a process stopped while queueing them)."""
    async with runtime.database.unit_of_work() as uow:
        ids = (
            await uow.session.scalars(select(Broadcast.id).where(Broadcast.status == "queueing"))
        ).all()
    for broadcast_id in ids:
        await queue_all(runtime, broadcast_id)


async def queue_batch(
    uow: UnitOfWork,
    broadcast_id: int,
    conditions: list[ColumnElement[bool]],
    payloads: dict[str, dict[str, Any]],
    after: int,
    now: datetime,
) -> tuple[int | None, int]:
    """Queue the people of the next batch after id `after` with one INSERT … SELECT.

    Returns the batch's last id (None once the segment is exhausted) and how many messages it
    queued. Nothing about the recipients passes through Python, so a batch costs two statements
    whatever its size.
    """
    window = (
        select(Learner.id)
        .where(*conditions, Learner.id > after)
        .order_by(Learner.id)
        .limit(QUEUE_BATCH)
        .subquery()
    )
    last, size = (
        await uow.session.execute(select(func.max(window.c.id), func.count()).select_from(window))
    ).one()
    if not size:
        return None, 0
    # The account to write to: the person's most recently used one on a push channel that has
    # not blocked the bot (VolunteerRepository.reach, limited to channels that can push).
    candidate = aliased(Learner)
    chosen = (
        select(candidate.id)
        .where(
            or_(candidate.id == Learner.id, candidate.person_id == Learner.id),
            candidate.channel.in_(PUSH_CHANNELS),
            candidate.unreachable_at.is_(None),
        )
        .order_by(candidate.last_active_at.desc(), candidate.id)
        .limit(1)
        .correlate(Learner)
        .scalar_subquery()
    )
    # The LIMIT (the range holds at most that many anyway) keeps PostgreSQL from flattening
    # this into a hash join over every learner; each pick stays an index lookup.
    picks = (
        select(chosen.label("account_id"))
        .where(*conditions, Learner.id > after, Learner.id <= last)
        .limit(QUEUE_BATCH)
        .subquery()
    )
    account = aliased(Learner)
    text = case(
        (account.locale == "en", literal(payloads["en"], JSONType)),
        else_=literal(payloads["vi"], JSONType),
    )
    rows = select(
        account.id,
        account.channel,
        account.external_id,
        text,
        literal("pending"),
        literal(BULK_PRIORITY),
        literal(0),
        literal(now, UTCDateTime()),
        literal(broadcast_id, BigInteger()),
    ).join_from(picks, account, account.id == picks.c.account_id)
    inserted = await uow.session.execute(
        insert(OutboxMessage).from_select(
            [
                "learner_id",
                "channel",
                "external_id",
                "payload",
                "status",
                "priority",
                "attempts",
                "created_at",
                "broadcast_id",
            ],
            rows,
        )
    )
    queued = int(inserted.rowcount)  # type: ignore[attr-defined]
    if queued:
        # Counted in the same transaction as its messages: the count is always what is queued.
        await uow.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(recipients=Broadcast.recipients + queued)
        )
    return (int(last) if size == QUEUE_BATCH else None), queued

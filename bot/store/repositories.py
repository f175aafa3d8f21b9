"""Repositories: read and write rows inside a unit of work. They flush; they never commit."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    inspect,
    literal_column,
    null,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value
from sqlalchemy.orm.util import identity_key

from bot.engine.types import ChoicesReply, Event, Reply
from bot.hooks import publisher as hooks
from bot.store.driver import OnDriver
from bot.store.models import (
    REPLY_PRIORITY,
    ConversationState,
    EventRecord,
    Learner,
    LessonProgress,
    LinkCode,
    MediaCache,
    OutboxMessage,
    ProcessedUpdate,
    UTCDateTime,
)


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 -- every model here maps one table
    return table


# Tables for the Core statements of every turn: no ORM objects or bulk machinery there.
STATES = _table(ConversationState)
EVENTS = _table(EventRecord)
OUTBOX = _table(OutboxMessage)
PROCESSED = _table(ProcessedUpdate)
LEARNERS = _table(Learner)

# Every turn runs these: built once, with bound parameters, rather than on every call (building
# a statement costs about as much as SQLAlchemy's whole execution of it).
LEARNER_BY_ACCOUNT = select(Learner).where(
    Learner.channel == bindparam("channel"), Learner.external_id == bindparam("external_id")
)
STATE_FOR_UPDATE = (
    select(STATES.c.state).where(STATES.c.learner_id == bindparam("learner_id")).with_for_update()
)
EVENTS_INSERT = insert(EVENTS).values(
    learner_id=bindparam("learner_id"),
    type=bindparam("type"),
    lesson_id=bindparam("lesson_id"),
    step_id=bindparam("step_id"),
    data=bindparam("data"),
    occurred_at=bindparam("now"),
)
STATE_UPDATE = (
    update(STATES)
    .where(STATES.c.learner_id == bindparam("person"))
    .values(state=bindparam("state"), updated_at=bindparam("now"))
)


def state_update_touching(changed: tuple[str, ...] = ()) -> Any:
    """PostgreSQL: the state's UPDATE also stamps the account's turn (a data-modifying CTE), so a
    turn does not need a round trip of its own for the learner's row; and writes these columns
    of the account, changed by the turn, from the parameters `new_<column>`."""
    return STATE_UPDATE.add_cte(
        update(LEARNERS)
        .where(LEARNERS.c.id == bindparam("account"))
        .values(
            last_active_at=bindparam("now"),
            unreachable_at=None,
            **{column: bindparam(f"new_{column}") for column in changed},
        )
        .cte("touched")
    )


OUTBOX_INSERT = insert(OUTBOX).returning(OUTBOX.c.id, sort_by_parameter_order=True)
CLAIMS = {
    name: dialect.insert(PROCESSED)
    .values(
        channel=bindparam("channel"),
        update_id=bindparam("update_id"),
        processed_at=bindparam("processed_at"),
    )
    .on_conflict_do_nothing(index_elements=["channel", "update_id"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
"""The dedup row's INSERT … ON CONFLICT DO NOTHING, by dialect."""


def _opening(claiming: bool) -> Any:
    """PostgreSQL: a turn's first statement. It claims the update (a data-modifying CTE, when
    `claiming`), reads the account's row (its columns, then `claimed` and `state`), and reads
    the state of the person the account learns as FOR UPDATE (two linked accounts of one person
    change one state in turn), as one row whether or not the account exists yet."""
    if claiming:
        claim = CLAIMS["postgresql"].returning(PROCESSED.c.update_id).cte("claim")
        first = select(func.count().label("claimed")).select_from(claim).subquery("opening")
    else:
        first = select(literal_column("1").label("claimed")).subquery("opening")
    state = (
        select(STATES.c.state)
        .where(STATES.c.learner_id == func.coalesce(Learner.person_id, Learner.id))
        .with_for_update()
        .lateral("person_state")
    )
    account = and_(
        Learner.channel == bindparam("channel"), Learner.external_id == bindparam("external_id")
    )
    return (
        select(*LEARNERS.c, first.c.claimed, state.c.state)
        .select_from(first)
        .outerjoin(Learner, account)
        .outerjoin(state, true())
    )


OPENINGS = {claiming: OnDriver(_opening(claiming)) for claiming in (True, False)}
"""Run on the driver: through the ORM, loading the account's row cost a turn about 0.1 ms more
of CPU than reading it here and adopting it (`LearnerRepository.adopt`; bench/README.md)."""
LEARNER_COLUMNS = tuple(column.key for column in LEARNERS.c)
LEARNER_MANAGER = inspect(Learner).class_manager
OUTBOX_INSERT_ON_POSTGRESQL = text(
    """
    INSERT INTO outbox
        (learner_id, channel, external_id, payload, status, priority, attempts, created_at)
    SELECT :learner_id, :channel, :external_id, reply.payload, 'pending', :priority, 0, :now
    FROM jsonb_array_elements(:payloads) WITH ORDINALITY AS reply(payload, n)
    ORDER BY reply.n
    RETURNING id
    """
).bindparams(
    bindparam("learner_id", type_=BigInteger()),
    bindparam("channel", type_=String()),
    bindparam("external_id", type_=String()),
    bindparam("priority", type_=Integer()),
    bindparam("now", type_=UTCDateTime()),
    bindparam("payloads", type_=postgresql.JSONB()),
)
"""A turn's replies in one INSERT from one JSON array, ids assigned in the replies' order
(ORDER BY the array's position); the driver has no many-row INSERT … RETURNING of its own."""

PROGRESS = _table(LessonProgress)


def _progress_upsert(dialect: Any) -> Any:
    """One lesson's progress row, folded from one turn's events (`ProgressRepository.fold`):
    inserted on the lesson's first event, otherwise updated from what the row holds."""
    row = PROGRESS.c

    def param(name: str, type_: Any) -> Any:
        return bindparam(name, type_=type_)

    now = param("now", UTCDateTime())
    reset, completed = param("reset", Boolean()), param("completed", Boolean())
    step, advance = param("step", Integer()), param("advance", Integer())
    answered, correct = param("answered", Integer()), param("correct", Integer())
    stuck, assisted = param("stuck", Integer()), param("assisted", Boolean())

    def kept(column: Any) -> Any:  # what a fresh attempt (lesson.started) starts again from
        return case((reset, 0), else_=column)

    statement = dialect.insert(PROGRESS).values(
        learner_id=param("learner_id", BigInteger()),
        lesson_id=param("lesson_id", String()),
        status=case((completed, "completed"), else_="started"),
        current_step=func.coalesce(step, 0) + advance,
        correct=correct,
        answered=answered,
        stuck_count=stuck,
        assisted=case((completed, assisted), else_=false()),
        started_at=now,
        completed_at=case((completed, now), else_=null()),
        updated_at=now,
    )
    return statement.on_conflict_do_update(
        index_elements=[row.learner_id, row.lesson_id],
        set_={
            "status": case((completed, "completed"), else_=row.status),
            "current_step": func.coalesce(step, kept(row.current_step)) + advance,
            "correct": kept(row.correct) + correct,
            "answered": kept(row.answered) + answered,
            "stuck_count": row.stuck_count + stuck,
            "assisted": case((completed, assisted), else_=row.assisted),
            "completed_at": case((completed, now), else_=row.completed_at),
            "updated_at": now,
        },
    )


PROGRESS_UPSERTS = {
    name: _progress_upsert(dialect)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
"""`_progress_upsert`, by dialect."""

# The same statements on PostgreSQL's driver (bot/store/driver.py).
ON_DRIVER_CLAIM = OnDriver(CLAIMS["postgresql"])
ON_DRIVER_STATE_FOR_UPDATE = OnDriver(STATE_FOR_UPDATE)
ON_DRIVER_STATE_UPDATE = OnDriver(STATE_UPDATE)
_TOUCHING: dict[tuple[str, ...], OnDriver] = {(): OnDriver(state_update_touching())}
"""StateRepository.save's statement on the driver, by the account's columns it also writes."""
ON_DRIVER_PROGRESS_UPSERT = OnDriver(PROGRESS_UPSERTS["postgresql"], many=True)
ON_DRIVER_EVENTS_INSERT = OnDriver(EVENTS_INSERT, many=True)
ON_DRIVER_OUTBOX_INSERT = OnDriver(OUTBOX_INSERT_ON_POSTGRESQL)
ON_DRIVER_LEARNED = OnDriver(
    update(LEARNERS)
    .where(LEARNERS.c.id == bindparam("person"))
    .values(learned_on=bindparam("day"), reminders_ignored=0)
)
_REACHED: dict[tuple[str, ...], OnDriver] = {}
"""LearnerRepository.reach's UPDATE, by the milestones it stamps."""


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class LearnerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, channel: str, external_id: str) -> Learner | None:
        return await self.session.scalar(
            LEARNER_BY_ACCOUNT, {"channel": channel, "external_id": external_id}
        )

    def adopt(self, row: Sequence[Any]) -> Learner:
        """The account's row, read on the driver (its columns in `LEARNER_COLUMNS`' order), as
        the object this unit of work tracks: as if the session had loaded it, so what the turn
        changes on it is flushed at commit."""
        # Built as the ORM's loading builds an object (no __init__, whose attribute sets cost
        # about 40 µs a turn), then its values are committed as the row's, not changes.
        learner: Learner = LEARNER_MANAGER.new_instance()
        instance_dict(learner).update(zip(LEARNER_COLUMNS, row, strict=True))
        make_transient_to_detached(learner)
        self.session.add(learner)
        return learner

    async def get_or_create(
        self, *, channel: str, external_id: str, now: datetime, locale: str = "vi"
    ) -> tuple[Learner, bool]:
        """The learner for this chat; created (True) on first contact."""
        learner = await self.get(channel, external_id)
        if learner is not None:
            return learner, False
        return await self.create(channel=channel, external_id=external_id, now=now, locale=locale)

    async def create(
        self, *, channel: str, external_id: str, now: datetime, locale: str = "vi"
    ) -> tuple[Learner, bool]:
        """A new chat's learner, inserted and read back with one statement (True); or the one
        another turn inserted meanwhile (False)."""
        statement = (
            dialect_insert(self.session, Learner)
            .values(
                channel=channel,
                external_id=external_id,
                locale=locale,
                created_at=now,
                last_active_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(Learner)
        )
        learner = await self.session.scalar(statement)
        if learner is not None:
            return learner, True
        learner = await self.get(channel, external_id)
        assert learner is not None  # noqa: S101 -- it was there: the insert did nothing
        return learner, False

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Learner)) or 0)

    async def link(self, account: Learner, person_id: int) -> None:
        """Make `account` (and any account linked to it) share `person_id`'s progress."""
        await self.session.execute(
            update(Learner).where(Learner.person_id == account.id).values(person_id=person_id)
        )
        account.person_id = person_id
        await self.session.flush()

    async def place(self, person: int, province: str, school_key: str | None) -> None:
        """Where a person learns, for reports; set once, from their volunteer's school."""
        await self.session.execute(
            update(Learner)
            .where(Learner.id == person, Learner.province.is_(None))
            .values(province=province, school_key=school_key)
        )

    async def reach(self, person: int, milestones: Sequence[str], now: datetime) -> None:
        """Stamp milestones (started_at, first_lesson_at, …) the first time they are reached."""
        if not milestones:
            return
        key = tuple(sorted(milestones))
        statement = _REACHED.get(key)
        if statement is None:  # one per set of milestones, of which there are few
            statement = _REACHED[key] = OnDriver(
                update(LEARNERS)
                .where(LEARNERS.c.id == bindparam("person"))
                .values({name: func.coalesce(LEARNERS.c[name], bindparam("now")) for name in key})
            )
        await statement.run(self.session, {"person": person, "now": now})
        held = _held(self.session, Learner, person)
        for name in key:
            if held is not None and getattr(held, name) is None:
                set_committed_value(held, name, now)

    async def learned(self, person: int, day: str | None) -> None:
        """A step learned today: no reminder today, and the ignored reminders start again."""
        await ON_DRIVER_LEARNED.run(self.session, {"person": person, "day": day})
        held = _held(self.session, Learner, person)
        if held is not None:
            set_committed_value(held, "learned_on", day)
            set_committed_value(held, "reminders_ignored", 0)

    async def set_unreachable(self, channel: str, external_id: str, at: datetime | None) -> None:
        """Record that the learner blocked the bot (a time) or came back (None)."""
        await self.session.execute(
            update(Learner)
            .where(Learner.channel == channel, Learner.external_id == external_id)
            .values(unreachable_at=at)
        )


class StateRepository:
    """The conversation state as a JSON document, read and written with single statements (no
    ORM objects: the hot path of every turn)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._stored: set[int] = set()
        """Learners whose row this unit of work has read: save() updates it in place."""

    def opened(self, learner_id: int, state: dict[str, Any] | None) -> dict[str, Any] | None:
        """A state this unit of work has read (here, or with the turn's first statement:
        UnitOfWork.open_turn), as `load` returns it; save() will update its row in place."""
        if state is None:
            return None
        self._stored.add(learner_id)
        return dict(state)

    async def load(self, learner_id: int) -> dict[str, Any] | None:
        # FOR UPDATE (PostgreSQL): two linked accounts of one person change one state in turn.
        parameters = {"learner_id": learner_id}
        rows = await ON_DRIVER_STATE_FOR_UPDATE.fetch(self.session, parameters)
        if rows is None:
            state = await self.session.scalar(STATE_FOR_UPDATE, parameters)
        else:
            state = rows[0][0] if rows else None
        return self.opened(learner_id, state)

    async def save(
        self,
        learner_id: int,
        state: dict[str, Any],
        now: datetime,
        *,
        touch: Learner | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        """Store the state; `touch`, the account whose turn it is, is marked active now and
        reachable, and given `changes` (its columns' new values; only with `touch`): in the
        same statement on PostgreSQL, otherwise flushed with the ORM. Through the ORM, an
        account's changed row costs a commit its flush, about 0.25 ms (bench/README.md)."""
        changes = changes or {}
        if learner_id not in self._stored:
            self._stored.add(learner_id)
            inserted = await self.session.execute(
                dialect_insert(self.session, STATES)
                .values(learner_id=learner_id, state=state, updated_at=now)
                .on_conflict_do_nothing(index_elements=["learner_id"])
            )
            if inserted.rowcount:  # type: ignore[attr-defined]
                if touch is not None:
                    touched(touch, now, changes)
                return
        parameters = {"person": learner_id, "state": state, "now": now}
        if touch is not None and self.session.get_bind().dialect.name == "postgresql":
            changed = {c: value for c, value in changes.items() if getattr(touch, c) != value}
            columns = tuple(sorted(changed))
            statement = _TOUCHING.get(columns)
            if statement is None:
                statement = _TOUCHING[columns] = OnDriver(state_update_touching(columns))
            parameters |= {f"new_{column}": value for column, value in changed.items()}
            parameters["account"] = touch.id
            await statement.run(self.session, parameters)
            # The row says so already: the ORM has nothing left to write for these.
            set_committed_value(touch, "last_active_at", now)
            set_committed_value(touch, "unreachable_at", None)
            for column, value in changed.items():
                set_committed_value(touch, column, value)
        else:
            await ON_DRIVER_STATE_UPDATE.run(self.session, parameters)
            if touch is not None:
                touched(touch, now, changes)
        # A state row that other code of this unit of work holds follows the new values.
        held = self.session.identity_map.get(identity_key(ConversationState, learner_id))
        if held is not None:
            set_committed_value(held, "state", state)
            set_committed_value(held, "updated_at", now)


def touched(account: Learner, now: datetime, changes: Mapping[str, Any] | None = None) -> None:
    """The account just wrote to us: active now, and reachable again; and given `changes`. An
    attribute set to the value it has still makes the commit run the ORM's flush (about
    0.15 ms), so only changes are set."""
    if account.last_active_at != now:
        account.last_active_at = now
    if account.unreachable_at is not None:
        account.unreachable_at = None
    for column, value in (changes or {}).items():
        if getattr(account, column) != value:
            setattr(account, column, value)


def clear_aside(account: Learner) -> None:
    """The account is in no exchange aside any more (set only if it was: see `touched`)."""
    if account.aside is not None:
        account.aside = None


def _held(session: AsyncSession, model: type[Any], key: Any) -> Any:
    """The row's object if this unit of work holds one (a Core statement does not update it)."""
    return session.identity_map.get(identity_key(model, key))


class ProgressRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, learner_id: int, lesson_id: str) -> LessonProgress | None:
        return await self.session.get(LessonProgress, (learner_id, lesson_id))

    async def for_learner(self, learner_id: int) -> Sequence[LessonProgress]:
        result = await self.session.scalars(
            select(LessonProgress).where(LessonProgress.learner_id == learner_id)
        )
        return result.all()

    async def apply(self, learner_id: int, events: Sequence[Event], now: datetime) -> None:
        """Fold one turn's events into the per-lesson progress rows: one upsert a lesson (one
        round trip for all of them on PostgreSQL), no ORM objects."""
        rows = [
            {"learner_id": learner_id, "lesson_id": lesson, "now": now, **fold}
            for lesson, fold in self.fold(events).items()
        ]
        if not rows or await ON_DRIVER_PROGRESS_UPSERT.executemany(self.session, rows):
            return
        statement = PROGRESS_UPSERTS[self.session.get_bind().dialect.name]
        for row in rows:
            await self.session.execute(statement, row)

    @staticmethod
    def fold(events: Sequence[Event]) -> dict[str, dict[str, Any]]:
        """What a turn's events change in each lesson's row, in their order: `reset` (a fresh
        attempt: step, answers and correct answers start again from 0), `step` (where the
        learner is now; None: unchanged) and `advance`, counts to add (`answered`, `correct`,
        `stuck`), and `completed` with `assisted`. Completion, once reached, stays."""
        lessons: dict[str, dict[str, Any]] = {}
        for event in events:
            if event.lesson_id is None:
                continue
            fold = lessons.setdefault(event.lesson_id, {
                "reset": False, "step": None, "advance": 0, "answered": 0, "correct": 0,
                "stuck": 0, "completed": False, "assisted": False,
            })  # fmt: skip
            if event.type == "lesson.started":
                fold |= {"reset": True, "step": None, "advance": 0, "answered": 0, "correct": 0}
            elif event.type == "step.completed":
                if "step" in event.data:
                    fold |= {"step": int(event.data["step"]) + 1, "advance": 0}
                else:  # one step on from wherever the row is
                    fold["advance"] += 1
            elif event.type in ("quiz.answered", "drill.answered"):
                fold["answered"] += 1
                fold["correct"] += int(bool(event.data.get("correct")))
            elif event.type == "learner.stuck":
                fold["stuck"] += 1
            elif event.type == "lesson.completed":
                fold |= {"completed": True, "assisted": bool(event.data.get("assisted"))}
        return lessons


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, learner_id: int, events: Sequence[Event], now: datetime) -> None:
        """Log the events, and queue the public ones for event webhooks in this transaction."""
        if not events:
            return
        rows = [
            {
                "learner_id": learner_id,
                "type": event.type,
                "lesson_id": event.lesson_id,
                "step_id": event.step_id,
                "data": event.data,
                "now": now,
            }
            for event in events
        ]
        if not await ON_DRIVER_EVENTS_INSERT.executemany(self.session, rows):
            await self.session.execute(EVENTS_INSERT, rows)  # Core: no ORM bulk machinery
        await hooks.publish(self.session, learner_id, events, now)

    async def count_since(self, type_: str, since: datetime, learner_id: int | None = None) -> int:
        query = (
            select(func.count())
            .select_from(EventRecord)
            .where(EventRecord.type == type_, EventRecord.occurred_at >= since)
        )
        if learner_id is not None:
            query = query.where(EventRecord.learner_id == learner_id)
        return int(await self.session.scalar(query) or 0)

    async def for_learner(self, learner_id: int) -> Sequence[EventRecord]:
        result = await self.session.scalars(
            select(EventRecord).where(EventRecord.learner_id == learner_id).order_by(EventRecord.id)
        )
        return result.all()


class DedupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, channel: str, update_id: str, now: datetime) -> bool:
        """Record the update as processed; False when it already was (a redelivery)."""
        parameters = {"channel": channel, "update_id": update_id, "processed_at": now}
        status = await ON_DRIVER_CLAIM.execute(self.session, parameters)
        if status is not None:
            return status == "INSERT 0 1"
        dialect = self.session.get_bind().dialect.name
        result = await self.session.execute(CLAIMS[dialect], parameters)
        return bool(result.rowcount)  # type: ignore[attr-defined]


def remember_list(account: Learner, replies: Sequence[Reply]) -> None:
    """When `replies` end with buttons, they are the latest list on the account's screen: where
    a channel has no buttons, a typed number picks from it (see bot/community, `aside`)."""
    last = replies[-1] if replies else None
    if isinstance(last, ChoicesReply):
        account.aside = {"kind": "menu", "options": [o.model_dump() for o in last.options]}


def _heads() -> list[Any]:
    """Each learner's next message in each lane, due at `now`: the only ones that may go next.
    A message waits for the learner's older pending ones of its own priority or a more urgent
    one: replies for older replies only, so a reply never waits behind a broadcast or a reminder
    queued before it; a bulk message for every older one. (Index ix_outbox_status_learner_id_id
    answers the "nothing older" test.)"""
    older = aliased(OutboxMessage)
    now = bindparam("now", type_=UTCDateTime())
    return [
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at.is_(None) | (OutboxMessage.next_attempt_at <= now),
        ~exists().where(
            older.learner_id == OutboxMessage.learner_id,
            older.status == "pending",
            older.id < OutboxMessage.id,
            older.priority <= OutboxMessage.priority,
        ),
    ]


# The worker's two statements, three times a message sent (a claim, the claim that finds nothing
# more, a look for the next learners): built once, as a turn's are. Built on every call they
# cost about 1.2 ms of CPU each (`bench/README.md`).
HEADS = _heads()
DUE_HEADS = (
    select(OutboxMessage.learner_id, OutboxMessage.channel, OutboxMessage.external_id)
    .where(OutboxMessage.channel.in_(bindparam("channels", expanding=True)), *HEADS)
    .order_by(OutboxMessage.priority, OutboxMessage.id)
    .limit(bindparam("limit", type_=Integer()))
    .with_for_update(skip_locked=True, of=OutboxMessage)
)
CLAIM_NEXT = (
    select(OutboxMessage)
    .where(OutboxMessage.learner_id == bindparam("learner_id"), *HEADS)
    .order_by(OutboxMessage.priority, OutboxMessage.id)
    .limit(1)
    .with_for_update(skip_locked=True, of=OutboxMessage)
)


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        learner: Learner,
        replies: Sequence[Reply],
        now: datetime,
        priority: int = REPLY_PRIORITY,
        *,
        unasked: bool = False,
    ) -> list[int]:
        """Queue replies; `unasked` ones (sent outside the learner's own turn) that end with
        buttons become the list a typed number picks from."""
        if unasked:
            remember_list(learner, replies)
        if not replies:
            return []
        # One INSERT … RETURNING for all of them, ids in the replies' order.
        rows = await ON_DRIVER_OUTBOX_INSERT.fetch(
            self.session,
            {
                "learner_id": learner.id,
                "channel": learner.channel,
                "external_id": learner.external_id,
                "priority": priority,
                "now": now,
                "payloads": [reply.model_dump() for reply in replies],
            },
        )
        if rows is not None:
            return sorted(row[0] for row in rows)
        result = await self.session.execute(
            OUTBOX_INSERT,
            [
                {
                    "learner_id": learner.id,
                    "channel": learner.channel,
                    "external_id": learner.external_id,
                    "payload": reply.model_dump(),
                    "status": "pending",
                    "priority": priority,
                    "attempts": 0,
                    "created_at": now,
                }
                for reply in replies
            ],
        )
        return list(result.scalars())

    async def pending(self, learner_id: int) -> Sequence[OutboxMessage]:
        result = await self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.learner_id == learner_id, OutboxMessage.status == "pending")
            .order_by(OutboxMessage.id)
        )
        return result.all()

    async def history(
        self, learner_id: int, after: int, limit: int = 200
    ) -> Sequence[OutboxMessage]:
        result = await self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.learner_id == learner_id, OutboxMessage.id > after)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return result.all()

    async def mark_sent(self, ids: Sequence[int], now: datetime) -> None:
        if ids:
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(status="sent", sent_at=now, attempts=OutboxMessage.attempts + 1)
            )

    async def mark_failed(self, message_id: int, error: str) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(status="failed", last_error=error[:500], attempts=OutboxMessage.attempts + 1)
        )

    async def due_learners(
        self, channels: Sequence[str], now: datetime, limit: int
    ) -> list[tuple[int, str, str]]:
        """Learners with messages ready to send: replies first, then the oldest."""
        due = (OutboxMessage.next_attempt_at.is_(None)) | (OutboxMessage.next_attempt_at <= now)
        result = await self.session.execute(
            select(OutboxMessage.learner_id, OutboxMessage.channel, OutboxMessage.external_id)
            .where(OutboxMessage.status == "pending", OutboxMessage.channel.in_(channels), due)
            .group_by(OutboxMessage.learner_id, OutboxMessage.channel, OutboxMessage.external_id)
            .order_by(func.min(OutboxMessage.priority), func.min(OutboxMessage.id))
            .limit(limit)
        )
        return [(row[0], row[1], row[2]) for row in result.all()]

    async def due_heads(
        self, channels: Sequence[str], now: datetime, limit: int
    ) -> list[tuple[int, str, str]]:
        """Learners whose next message is due and not claimed by another worker, each once:
        replies first, then the oldest (PostgreSQL: FOR UPDATE SKIP LOCKED; the rows stay
        locked until the unit of work ends). A learner with a reply and a bulk message due is
        named once, at the first; one task sends both."""
        result = await self.session.execute(
            DUE_HEADS, {"channels": list(channels), "now": now, "limit": limit}
        )
        # Not DISTINCT in SQL: PostgreSQL refuses it beside FOR UPDATE.
        learners: dict[int, tuple[int, str, str]] = {}
        for row in result.all():
            learners.setdefault(row[0], (row[0], row[1], row[2]))
        return list(learners.values())

    async def claim_next(self, learner_id: int, now: datetime) -> OutboxMessage | None:
        """Lock the learner's next message for sending until the unit of work ends, replies
        first; None when nothing is due or another worker holds it (FOR UPDATE SKIP LOCKED).
        Only a lane's oldest pending message can be claimed (`HEADS`), so whichever worker
        sends, no reply overtakes an older reply and no bulk message overtakes anything."""
        return await self.session.scalar(CLAIM_NEXT, {"learner_id": learner_id, "now": now})

    async def due(self, learner_id: int, now: datetime) -> Sequence[OutboxMessage]:
        """A learner's pending messages, replies first and each lane in order, up to the first
        one that must wait."""
        rows = sorted(await self.pending(learner_id), key=lambda row: (row.priority, row.id))
        ready = []
        for row in rows:
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                break  # later messages wait too: a learner's messages never overtake
            ready.append(row)
        return ready

    async def analyze(self) -> None:
        """Refresh PostgreSQL's statistics of the outbox after a bulk load (`ANALYZE`), which
        also has every connection plan its statements on the outbox again. Elsewhere (SQLite,
        one process, a small outbox) nothing is done."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("ANALYZE outbox"))

    async def retry_later(self, message_id: int, at: datetime, error: str) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(next_attempt_at=at, last_error=error[:500], attempts=OutboxMessage.attempts + 1)
        )

    async def hold(self, message_id: int, reason: str) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(status="held", last_error=reason[:500])
        )

    async def cancel_pending(self, learner_id: int, reason: str) -> int:
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.learner_id == learner_id, OutboxMessage.status == "pending")
            .values(status="cancelled", last_error=reason[:500])
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def count(self, status: str) -> int:
        query = (
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == status)
        )
        return int(await self.session.scalar(query) or 0)


class MediaRepository:
    """Platform file ids of pictures already uploaded."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, channel: str, path: str) -> str | None:
        row = await self.session.get(MediaCache, (channel, path))
        return None if row is None else row.file_id

    async def put(self, channel: str, path: str, file_id: str, now: datetime) -> None:
        statement = (
            dialect_insert(self.session, MediaCache)
            .values(channel=channel, path=path, file_id=file_id, created_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "path"])
        )
        await self.session.execute(statement)


class LinkRepository:
    """One-time codes that link a second channel's account to a learner's progress."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(self, learner_id: int, now: datetime, lifetime: timedelta) -> str:
        """A fresh 6-digit code for `learner_id`; earlier codes of theirs stop working."""
        stale = (LinkCode.learner_id == learner_id) | (LinkCode.expires_at < now)
        await self.session.execute(delete(LinkCode).where(stale))
        while True:
            code = f"{secrets.randbelow(1_000_000):06d}"
            if await self.session.get(LinkCode, code) is None:
                break
        self.session.add(LinkCode(code=code, learner_id=learner_id, expires_at=now + lifetime))
        await self.session.flush()
        return code

    async def redeem(self, code: str, now: datetime) -> int | None:
        """The learner a valid code belongs to; the code is used up either way."""
        row = await self.session.get(LinkCode, code)
        if row is None:
            return None
        await self.session.delete(row)
        await self.session.flush()
        return row.learner_id if row.expires_at > now else None

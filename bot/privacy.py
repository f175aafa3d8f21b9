"""The learner's data is theirs: what is kept (/privacy), a copy of all of it (/mydata), erasure
(/forget), and old events made anonymous after the retention period.

What "all of it" is comes from the schema itself: every table with a column that points at a
learner (or at their volunteer record) is read, so a table added later is exported and erased
without anyone remembering to add it here (tests/test_privacy.py checks that this holds).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Column, Table, delete, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from bot.hooks.publisher import publish_erased
from bot.store.db import Database, UnitOfWork
from bot.store.models import (
    Base,
    Certificate,
    EventRecord,
    Learner,
    ModelJob,
    OutboxMessage,
    Referral,
    ReportMeta,
    Volunteer,
)

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
LINK_LIFETIME = timedelta(hours=1)
RETENTION_MARK = "retention.last_event_id"
PURGE_AFTER = timedelta(minutes=1)
"""An erased account's last row (kept only to send the goodbye) goes once that is sent."""
ERASED_REASON = "erased at the learner's request"
FREE_TEXT_KEYS = ("text", "options", "answer_text", "message")
"""Event data that can hold what a learner typed: removed when events are made anonymous."""
SKIPPED_COLUMNS = {("learners", "aside")}
"""Working memory of an unfinished exchange: not data about the person."""


# --- what the database holds ----------------------------------------------------------------


def _learner_columns(table: Table) -> list[Column[Any]]:
    """The columns of `table` that point at a learner."""
    columns = [
        column
        for column in table.columns
        if any(key.column.table.name == "learners" for key in column.foreign_keys)
    ]
    if table.name == "model_jobs":
        columns.append(table.c.person_id)  # the person whose progress the job answers from
    return columns


def _volunteer_columns(table: Table) -> list[Column[Any]]:
    return [
        column
        for column in table.columns
        if any(key.column.table.name == "volunteers" for key in column.foreign_keys)
    ]


def personal_tables() -> list[Table]:
    """Every table holding rows about a learner (the learners table itself first)."""
    return [
        table
        for table in Base.metadata.sorted_tables
        if table.name == "learners" or _learner_columns(table) or _volunteer_columns(table)
    ]


async def accounts(uow: UnitOfWork, person: int) -> list[int]:
    """The person and every account linked to them."""
    rows = await uow.session.scalars(
        select(Learner.id).where(or_(Learner.id == person, Learner.person_id == person))
    )
    return sorted(set(rows.all()) | {person})


async def _volunteer_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[int]:
    rows = await uow.session.scalars(select(Volunteer.id).where(Volunteer.learner_id.in_(ids)))
    return list(rows.all())


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _where(table: Table, ids: Sequence[int], volunteers: Sequence[int]) -> ColumnElement[bool]:
    if table.name == "learners":
        return or_(table.c.id.in_(ids), table.c.person_id.in_(ids))
    clauses = [column.in_(ids) for column in _learner_columns(table)]
    if volunteers:
        clauses += [column.in_(volunteers) for column in _volunteer_columns(table)]
    return or_(*clauses)


async def collect(uow: UnitOfWork, person: int, now: datetime) -> dict[str, Any]:
    """Everything the database holds about the person, table by table, as plain JSON."""
    ids = await accounts(uow, person)
    volunteers = await _volunteer_ids(uow, ids)
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in personal_tables():
        result = await uow.session.execute(select(table).where(_where(table, ids, volunteers)))
        rows = []
        for row in result.mappings():
            record = {
                key: _plain(value)
                for key, value in row.items()
                if (table.name, key) not in SKIPPED_COLUMNS
            }
            if table.name == "referrals" and record.get("learner_id") not in ids:
                # A family member this person helps as a volunteer: their nickname for them is
                # this person's data; the other learner's id is not.
                record["learner_id"] = None
            rows.append(record)
        if rows:
            tables[table.name] = rows
    return {
        "format": "camtay-mydata",
        "version": EXPORT_VERSION,
        "exported_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "person": person,
        "tables": tables,
    }


async def export_bytes(database: Database, person: int, now: datetime) -> bytes:
    async with database.unit_of_work() as uow:
        data = await collect(uow, person, now)
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode()


def file_name(now: datetime) -> str:
    return f"camtay-mydata-{now:%Y-%m-%d}.json"


# --- download links (for channels that cannot carry a file) ---------------------------------


def sign(secret: bytes, person: int, expires: datetime) -> str:
    """A link token that opens one person's data until `expires`."""
    payload = f"{person}.{int(expires.timestamp())}"
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:16]
    raw = payload.encode() + b"." + mac
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def verify(secret: bytes, token: str, now: datetime) -> int | None:
    """The person a token opens; None when it is forged, malformed or expired."""
    if not 8 <= len(token) <= 120:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    person_text, _, rest = raw.partition(b".")
    expires_text, _, mac = rest.partition(b".")
    if not person_text.isdigit() or not expires_text.isdigit():
        return None
    payload = person_text + b"." + expires_text
    expected = hmac.new(secret, payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        return None
    if int(expires_text) < now.timestamp():
        return None
    return int(person_text)


# --- erasure --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    ids: list[int]
    accounts: list[tuple[str, str]]
    """(channel, chat id) of every erased account: what Redis keys can hold."""


async def erase(uow: UnitOfWork, person: int, now: datetime, keep: Learner | None = None) -> Erased:
    """Erase the person: every row about them and their linked accounts is deleted, pending
    messages are cancelled, certificates are revoked and no longer name them.

    `keep`, the account they wrote from, keeps a bare row (channel and chat id only) until the
    goodbye queued after this is sent; `purge_erased` then removes it.
    """
    await publish_erased(uow, person, now)  # subscribed systems erase theirs too
    ids = await accounts(uow, person)
    if keep is not None and keep.id not in ids:
        ids.append(keep.id)
    rows = await uow.session.execute(
        select(Learner.channel, Learner.external_id).where(Learner.id.in_(ids))
    )
    erased = Erased(ids, [(channel, external_id) for channel, external_id in rows.all()])
    volunteers = await _volunteer_ids(uow, ids)
    await uow.session.execute(
        update(Certificate)
        .where(Certificate.learner_id.in_(ids))
        .values(
            learner_id=None,
            display_name="",
            revoked_at=now,
            revoked_reason=ERASED_REASON,
        )
        .execution_options(synchronize_session=False)
    )
    if volunteers:
        # The family they helped keep their own progress; the link to this person goes.
        await uow.session.execute(delete(Referral).where(Referral.volunteer_id.in_(volunteers)))
    for table in reversed(personal_tables()):
        if table.name in ("learners", "certificates"):
            continue
        await uow.session.execute(delete(table).where(_where(table, ids, [])))
    await uow.session.execute(
        delete(ModelJob).where(or_(ModelJob.learner_id.in_(ids), ModelJob.person_id.in_(ids)))
    )
    others = [learner_id for learner_id in ids if keep is None or learner_id != keep.id]
    if others:
        await uow.session.execute(
            update(Learner).where(Learner.person_id.in_(ids)).values(person_id=None)
        )
        await uow.session.execute(delete(Learner).where(Learner.id.in_(others)))
    if keep is None:
        return erased
    await uow.session.execute(
        update(Learner)
        .where(Learner.id == keep.id)
        .values(
            display_name=None,
            consent_at=None,
            person_id=None,
            aside=None,
            province=None,
            school_key=None,
            started_at=None,
            first_lesson_at=None,
            first_module_at=None,
            equipped_at=None,
            remind_at=None,
            reminders_ignored=0,
            reminders_paused=False,
            learned_on=None,
            time_zone=None,
            created_at=now,
            last_active_at=now,
            erased_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await uow.session.refresh(keep)
    return erased


async def purge_erased(database: Database, now: datetime) -> int:
    """Remove the bare rows erased accounts kept for their goodbye, once it is sent."""
    async with database.unit_of_work() as uow:
        waiting = select(OutboxMessage.learner_id).where(
            OutboxMessage.learner_id == Learner.id, OutboxMessage.status == "pending"
        )
        result = await uow.session.execute(
            delete(Learner).where(
                Learner.erased_at.is_not(None),
                Learner.erased_at <= now - PURGE_AFTER,
                ~waiting.exists(),
            )
        )
        await uow.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- retention ------------------------------------------------------------------------------


def _anonymous(data: dict[str, Any] | None) -> dict[str, Any]:
    return {key: value for key, value in (data or {}).items() if key not in FREE_TEXT_KEYS}


async def anonymise_events(database: Database, now: datetime, days: int, batch: int = 2000) -> int:
    """Events older than `days` lose who did them and anything typed; returns how many.

    The log is walked in id order from a watermark kept in `report_meta`, so each run reads
    only events it has not seen; it stops at the first event still inside the period. Counts
    already folded into the reports stay: the log keeps what happened, not to whom.
    """
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    done = 0
    while True:
        async with database.unit_of_work() as uow:
            mark = await uow.session.get(ReportMeta, RETENTION_MARK, with_for_update=True)
            after = int(mark.value) if mark is not None else 0
            rows = (
                await uow.session.execute(
                    select(EventRecord.id, EventRecord.occurred_at, EventRecord.data)
                    .where(EventRecord.id > after)
                    .order_by(EventRecord.id)
                    .limit(batch)
                )
            ).all()
            old = [row for row in rows if row.occurred_at < cutoff]
            if len(old) < len(rows):  # stop at the first event still within the period
                first_new = next(i for i, row in enumerate(rows) if row.occurred_at >= cutoff)
                old = list(rows[:first_new])
            for event_id, _, data in old:
                await uow.session.execute(
                    update(EventRecord)
                    .where(EventRecord.id == event_id)
                    .values(learner_id=None, data=_anonymous(data))
                )
            if old:
                value = str(old[-1][0])
                if mark is None:
                    uow.session.add(ReportMeta(name=RETENTION_MARK, value=value, updated_at=now))
                else:
                    mark.value = value
                    mark.updated_at = now
            await uow.commit()
        done += len(old)
        if len(old) < batch:
            return done


async def forget_keys(redis: Redis, accounts: Iterable[tuple[str, str]], ids: Iterable[int]) -> int:
    """Delete the Redis keys that name an erased learner: any key with one of their accounts
    in it (locks, rate limits), and remembered update ids whose value is one of their ids.
    Erasure is rare: a scan of camtay's keys is fine."""
    pairs = set(accounts)
    values = {str(learner_id).encode() for learner_id in ids}
    doomed = []
    async for key in redis.scan_iter(match="camtay:*", count=1000):
        text = key.decode(errors="replace")
        parts = text.split(":")
        names_them = any(pair in pairs for pair in pairwise(parts))
        remembered = text.startswith("camtay:update:") and await redis.get(key) in values
        if names_them or remembered:
            doomed.append(key)
    if doomed:
        await redis.delete(*doomed)
    return len(doomed)

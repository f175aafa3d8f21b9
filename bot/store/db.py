"""Database connection and the unit of work that owns each transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from pydantic_core import from_json, to_json
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from bot.store.certificates import CertificateRepository
from bot.store.driver import DriverSession, begin
from bot.store.models import Learner
from bot.store.repositories import (
    OPENINGS,
    DedupRepository,
    EventRepository,
    LearnerRepository,
    LinkRepository,
    MediaRepository,
    OutboxRepository,
    ProgressRepository,
    StateRepository,
)
from bot.store.volunteers import VolunteerRepository


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web chat read while a turn writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _json_text(value: Any) -> str:
    return to_json(value).decode()


JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": from_json}
"""JSON columns (a turn writes the state, its events and replies) through pydantic-core's
serializer and parser: a few times faster than the standard library's on this data."""


POOL_SIZE = 20
"""PostgreSQL connections a process keeps open by default (`CAMTAY_DATABASE_POOL_SIZE`)."""


def create_engine(url: str, pool_size: int = POOL_SIZE) -> AsyncEngine:
    """An async engine for SQLite (the embedded default) or PostgreSQL.

    On PostgreSQL the pool is `pool_size` connections and no more: a unit of work beyond them
    waits for one. SQLAlchemy closes an overflow connection as soon as it is given back, so
    under steady load an overflow meant a new connection (and a new server process, its
    prepared statements made again) every few dozen turns (`bench/README.md`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **JSON_CODEC)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: on asyncpg it is three round trips (BEGIN, ";", ROLLBACK) before every unit
    # of work, as many as the turn's own writes. A connection dropped by a restarted server
    # fails the one unit of work that meets it; SQLAlchemy then discards every older pooled
    # connection, and the platform redelivers the update (the dedup row makes that safe).
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_recycle=1800, **JSON_CODEC
    )


class Opening(NamedTuple):
    """What a turn reads first (UnitOfWork.open_turn)."""

    learner: Learner | None
    """The account; None before its first contact."""
    claimed: bool
    """False when the update was applied before (a redelivery): nothing else is to be done."""
    state: dict[str, Any] | None
    """The state of the person the account learns as, read FOR UPDATE (None: none yet, or no
    account, or a redelivery)."""


class UnitOfWork:
    """One transaction and the repositories that work inside it; only this commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.learners = LearnerRepository(session)
        self.states = StateRepository(session)
        self.progress = ProgressRepository(session)
        self.events = EventRepository(session)
        self.dedup = DedupRepository(session)
        self.outbox = OutboxRepository(session)
        self.media = MediaRepository(session)
        self.links = LinkRepository(session)
        self.volunteers = VolunteerRepository(session)
        self.certificates = CertificateRepository(session)

    async def open_turn(
        self, channel: str, external_id: str, update_id: str | None, now: datetime
    ) -> Opening:
        """Claim the update (when it has an id), read the account and its person's state: on
        PostgreSQL, BEGIN and then one statement, both on the driver, as are the turn's next
        statements (bot/store/driver.py); three statements elsewhere."""
        if await begin(self.session):
            parameters: dict[str, Any] = {"channel": channel, "external_id": external_id}
            if update_id is not None:
                parameters |= {"update_id": update_id, "processed_at": now}
            rows = await OPENINGS[update_id is not None].fetch(self.session, parameters)
            assert rows is not None  # noqa: S101 -- begun on the driver just above
            *account, claimed, state = rows[0]
            learner = None if account[0] is None else self.learners.adopt(account)
            claimed = bool(claimed)
            if learner is None or not claimed:
                return Opening(learner, claimed, None)
            person = learner.person_id or learner.id
            return Opening(learner, claimed, self.states.opened(person, state))
        learner = await self.learners.get(channel, external_id)
        if update_id is not None and not await self.dedup.claim(channel, update_id, now):
            return Opening(learner, False, None)
        if learner is None:
            return Opening(None, True, None)
        return Opening(learner, True, await self.states.load(learner.person_id or learner.id))

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


class Database:
    """The engine and session factory, made once per process."""

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.pool_size = pool_size
        """Connections at most on PostgreSQL (SQLite's pool is its own)."""
        self.engine = create_engine(url, pool_size)
        self._sessions = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            # PostgreSQL: the statements of every turn run on the driver (bot/store/driver.py).
            sync_session_class=DriverSession if self.dialect == "postgresql" else Session,
        )
        # SQLite has one writer; waiting in its busy handler (sleep and retry) starves some
        # turns for seconds under load, so one process queues its units of work in order here.
        self._sqlite_queue = asyncio.Lock() if self.dialect == "sqlite" else None
        self._sqlite_holder: asyncio.Task[object] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Yield a unit of work; commit is explicit, anything uncommitted is rolled back.

        Closing the session (not an explicit rollback) ends the transaction: rows read in a
        unit of work stay readable afterwards instead of being expired.
        """
        if self._sqlite_queue is None:
            async with self._sessions() as session:
                yield UnitOfWork(session)
            return
        task = asyncio.current_task()
        if task is not None and task is self._sqlite_holder:
            raise RuntimeError("a unit of work inside another one in the same task would deadlock")
        async with self._sqlite_queue:
            self._sqlite_holder = task
            try:
                async with self._sessions() as session:
                    yield UnitOfWork(session)
            finally:
                self._sqlite_holder = None

    async def dispose(self) -> None:
        await self.engine.dispose()

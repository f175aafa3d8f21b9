"""Shared fixtures: the demo catalog, a fixed clock, and real SQLite / PostgreSQL / Redis stores.

PostgreSQL and Redis come from CAMTAY_TEST_POSTGRES_URL and CAMTAY_TEST_REDIS_URL (the Makefile
points them at 127.0.0.1). Without them the tests that need them are skipped and listed; with
CI=true an unreachable service fails the run instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from bot.content import load_catalog
from bot.engine import Catalog, Choice, ChoicesReply, Engine
from bot.engine.phrases import CONSENT_YES
from bot.locks import MemoryLocks
from bot.service import Collector, Inbound, Tutor
from bot.store import Database
from bot.store.migrate import upgrade
from bot.store.models import Base
from bot.store.scratch import create_scratch, drop_scratch, execute

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_LESSONS = Path(__file__).resolve().parent / "fixtures" / "lessons"
POSTGRES_URL = os.environ.get("CAMTAY_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("CAMTAY_TEST_REDIS_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)
"""Every table, emptied between tests on PostgreSQL."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden conversation files from the engine's output",
    )


def unavailable(what: str) -> None:
    """Skip on a developer's machine; fail under CI, where the service must be there."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: services are required)", pytrace=False)
    pytest.skip(what)


AGREE_LABELS = frozenset({CONSENT_YES("en"), CONSENT_YES("vi")})


async def handle_agreeing(tutor: Tutor, inbound: Inbound, collector: Collector) -> None:
    """`tutor.handle`, then "I agree" whenever the privacy notice is shown: tests about
    something else start from a learner who agreed (the notice has tests of its own)."""
    await tutor.handle(inbound, collector)
    screens = [m.reply for m in collector.messages if isinstance(m.reply, ChoicesReply)]
    agree = (
        next((o for o in screens[-1].options if o.label in AGREE_LABELS), None) if screens else None
    )
    if agree is not None:
        again = Inbound(inbound.channel, inbound.external_id, Choice(key=agree.key))
        await tutor.handle(again, collector)


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def demo_catalog() -> Catalog:
    return load_catalog(FIXTURE_LESSONS)


@pytest.fixture(scope="session")
def real_catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def engine(demo_catalog: Catalog) -> Engine:
    return Engine(demo_catalog)


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database of its own on the test server, dropped at the end."""
    if not POSTGRES_URL:
        unavailable("PostgreSQL: CAMTAY_TEST_POSTGRES_URL is not set")
    try:
        url = asyncio.run(create_scratch(POSTGRES_URL, "camtay_test"))
    except (OSError, asyncpg.PostgresError) as error:
        unavailable(f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}")
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(drop_scratch(POSTGRES_URL, url))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a new SQLite file, or the PostgreSQL test database emptied."""
    if request.param == "sqlite":
        sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'camtay.sqlite3'}"
        upgrade(sqlite_url)
        return sqlite_url
    postgres: str = request.getfixturevalue("postgres_url")
    asyncio.run(execute(postgres, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    return postgres


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def tutor(database: Database, demo_catalog: Catalog, clock: Clock) -> Tutor:
    return Tutor(engine=Engine(demo_catalog), database=database, locks=MemoryLocks(), clock=clock)


# --- Redis ------------------------------------------------------------------------------------


async def connect_redis() -> Redis:
    """A client for the test Redis with camtay's keys cleared, or skip (fail in CI)."""
    if not REDIS_URL:
        unavailable("Redis: CAMTAY_TEST_REDIS_URL is not set")
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, ConnectionError) as error:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL} is unreachable: {error}")
    keys = [key async for key in client.scan_iter("camtay:*")]
    if keys:
        await client.delete(*keys)
    return client


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = await connect_redis()
    yield client
    await client.aclose()

"""Build the running parts from Settings once, at start-up, and close them at the end."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from bot.content import load_catalog
from bot.engine import Catalog, Engine
from bot.locks import LearnerLocks, MemoryLocks, RedisLocks
from bot.service import Tutor
from bot.settings import Settings
from bot.store import Database
from bot.store.migrate import upgrade


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog
    database: Database
    locks: LearnerLocks
    tutor: Tutor

    async def close(self) -> None:
        await self.locks.close()
        await self.database.dispose()


def migrate_if_embedded(settings: Settings) -> None:
    """The embedded SQLite default migrates itself; a shared database is migrated by a job."""
    if settings.embedded:
        upgrade(settings.effective_database_url)


def build(settings: Settings, catalog: Catalog | None = None) -> Runtime:
    catalog = catalog or load_catalog(settings.lessons_dir)
    database = Database(settings.effective_database_url)
    locks: LearnerLocks
    if settings.redis_url:
        locks = RedisLocks(
            Redis.from_url(settings.redis_url), timeout=settings.lock_timeout_seconds
        )
    else:
        locks = MemoryLocks(timeout=settings.lock_timeout_seconds)
    tutor = Tutor(engine=Engine(catalog), database=database, locks=locks)
    return Runtime(settings=settings, catalog=catalog, database=database, locks=locks, tutor=tutor)

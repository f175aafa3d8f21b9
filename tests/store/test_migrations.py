"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from bot.store import Database
from bot.store.migrate import downgrade, upgrade
from bot.store.models import Base


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_migrations_go_down_and_up_again(database_url: str, database: Database) -> None:
    await database.dispose()
    downgrade(database_url, "base")
    upgrade(database_url)
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []

"""Throwaway PostgreSQL databases for tests and benchmarks, created and dropped over asyncpg."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy.engine import make_url


def asyncpg_dsn(url: str) -> str:
    """The plain libpq form of a SQLAlchemy URL, which asyncpg takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def execute(url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def create_scratch(server_url: str, prefix: str) -> str:
    """Create `<prefix>_<random>` on the server of `server_url`; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await execute(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_scratch(server_url: str, scratch_url: str) -> None:
    """Drop a database made by `create_scratch`, even with connections still open."""
    name = make_url(scratch_url).database
    await execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Admin API fixtures: the app on SQLite or PostgreSQL, and a token for each role and scope."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from admin.auth import create_token
from bot.settings import Settings
from bot.wiring import Runtime, build
from tests.conftest import FIXTURE_LESSONS, Clock
from webhook.app import create_app

MakeToken = Callable[..., Awaitable[str]]


def build_runtime(database_url: str, clock: Clock) -> Runtime:
    """The whole app's parts on the test lessons, the given database and a fixed clock."""
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        lessons_dir=FIXTURE_LESSONS,
        report_refresh_seconds=0,  # tests refresh the rollups when they mean to
    )
    built = build(settings)
    built.tutor.clock = clock
    return built


@pytest.fixture
async def runtime(database_url: str, clock: Clock) -> AsyncIterator[Runtime]:
    """The whole app's parts on the test lessons, a migrated empty database and a fixed clock."""
    built = build_runtime(database_url, clock)
    yield built
    await built.close()


@pytest.fixture
async def app(runtime: Runtime) -> AsyncIterator[FastAPI]:
    application = create_app(runtime=runtime)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http:
        yield http


@pytest.fixture
def make_token(runtime: Runtime) -> MakeToken:
    """`await make_token("viewer", province="nghe-an")` -> a plain token for that role."""

    async def make(
        role: str, *, province: str | None = None, school: str | None = None, name: str = "t"
    ) -> str:
        async with runtime.database.unit_of_work() as uow:
            _, token = await create_token(
                uow,
                role=role,
                name=name,
                province=province,
                school=school,
                now=runtime.tutor.clock(),
            )
            await uow.commit()
        return token

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""The lesson library through the admin API: its status, and reloading it without a restart."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from admin.auth import create_token
from admin.background import refresh_if_stale
from admin.content import follow
from bot.engine import Start
from bot.settings import Settings
from bot.store.models import AuditEntry
from bot.wiring import Runtime, build
from tests.admin.conftest import bearer
from tests.conftest import FIXTURE_LESSONS, Clock
from tests.test_community import Person
from webhook.app import create_app

API = "/admin/api/v1"


@pytest.fixture
def lessons(tmp_path: Path) -> Path:
    copy = tmp_path / "lessons"
    shutil.copytree(FIXTURE_LESSONS, copy)
    return copy


def settings_for(database_url: str, lessons: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=None,
        lessons_dir=lessons,
        report_refresh_seconds=300,
    )


@pytest.fixture
async def runtime(database_url: str, lessons: Path, clock: Clock) -> AsyncIterator[Runtime]:
    built = build(settings_for(database_url, lessons))
    built.tutor.clock = clock
    yield built
    await built.close()


async def token(runtime: Runtime, role: str) -> str:
    async with runtime.database.unit_of_work() as uow:
        _, plain = await create_token(uow, role=role, name=role, now=runtime.tutor.clock())
        await uow.commit()
    return plain


async def test_a_changed_library_is_reloaded_and_a_broken_one_refused(
    runtime: Runtime, lessons: Path, database_url: str
) -> None:
    app = create_app(runtime=runtime)
    runtime.settings.report_refresh_seconds = 0  # no background upkeep inside this test
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http,
    ):
        admin, analyst = await token(runtime, "admin"), await token(runtime, "analyst")
        status = (await http.get(f"{API}/content", headers=bearer(analyst))).json()
        assert status["valid"] is True
        assert [m["core"] for m in status["modules"]] == [True, False]
        assert status["lessons"][0]["sources"] == ["https://example.org/source"]
        refused = await http.post(f"{API}/content/reload", headers=bearer(analyst))
        assert refused.status_code == 403

        first = lessons / "demo" / "first.yaml"
        first.write_text(
            first.read_text(encoding="utf-8").replace("en: Lesson one}", "en: Lesson 1 (new)}"),
            encoding="utf-8",
        )
        reloaded = await http.post(f"{API}/content/reload", headers=bearer(admin))
        assert reloaded.status_code == 200
        assert reloaded.json()["running_version"] == reloaded.json()["version"]
        learner = Person(runtime.tutor, "web", "g")
        await learner.send(Start(payload="lang_en"))
        await learner.tap("📘 Demo")
        assert any(o.label == "📘 Lesson 1 (new)" for o in learner.buttons)

        # Another process on the same database follows the published version.
        other = build(settings_for(database_url, lessons))
        try:
            await follow(other)
            assert other.catalog.lesson("first").title.en == "Lesson 1 (new)"  # type: ignore[union-attr]
        finally:
            await other.close()

        first.write_text("id: first\nsteps: [", encoding="utf-8")
        broken = await http.post(f"{API}/content/reload", headers=bearer(admin))
        assert broken.status_code == 422
        assert broken.json()["detail"]["problems"]
        assert runtime.catalog.lesson("first").title.en == "Lesson 1 (new)"  # type: ignore[union-attr]
        status = (await http.get(f"{API}/content", headers=bearer(admin))).json()
        assert status["valid"] is False
    async with runtime.database.unit_of_work() as uow:
        actions = (await uow.session.scalars(select(AuditEntry.action))).all()
    assert actions.count("content.reload") == 2


async def test_rollups_refresh_when_stale(runtime: Runtime, clock: Clock) -> None:
    assert await refresh_if_stale(runtime) is True
    assert await refresh_if_stale(runtime) is False
    clock.advance(seconds=301)
    assert await refresh_if_stale(runtime) is True

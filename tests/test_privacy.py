"""The learner's data is theirs: /privacy, /mydata (file, link, web download), /forget, admin
requests, and old events made anonymous."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import String, Text, select

from admin.auth import create_token
from bot import privacy
from bot.certificates import issue
from bot.engine import Catalog, Engine, FileReply, Start
from bot.locks import MemoryLocks
from bot.service import Collector, Inbound, Tutor
from bot.settings import Settings
from bot.store import Database
from bot.store.models import (
    Base,
    EventRecord,
    Learner,
    OutboxMessage,
    ReportMeta,
)
from bot.wiring import Runtime, build
from tests.conftest import FIXTURE_LESSONS, Clock
from tests.test_community import Person, learner_completes_first_lesson, volunteer_signs_up, words
from webhook.app import create_app

BASE = "https://camtay.example"
SECRET = b"k" * 32


def make_tutor(database: Database, catalog: Catalog, clock: Clock) -> Tutor:
    return Tutor(engine=Engine(catalog), database=database, locks=MemoryLocks(), clock=clock)


async def busy_learner(tutor: Tutor, channel: str = "telegram", who: str = "777001") -> Person:
    """A learner with something in most tables: progress, events, a review card, a reminder,
    a certificate, a link code, a question for the tutor, a helper."""
    minh = Person(tutor, "telegram", "555001")
    code = await volunteer_signs_up(minh)
    lan = Person(tutor, channel, who)
    await lan.type(f"ref {code}")
    await lan.tap("English")
    await learner_completes_first_lesson(lan)
    await lan.type("/settings")
    await lan.tap("⏰ 19:00")
    await lan.type("/ask how do I spot a fake bank text?")
    await lan.type("/link")
    await lan.type("/name Bà Lan")
    async with tutor.database.unit_of_work() as uow:
        learner = await uow.learners.get(channel, who)
        assert learner is not None
        await issue(
            uow, person=learner.id, module_id="demo", display_name="Bà Lan", now=tutor.clock()
        )
        await uow.commit()
    return lan


async def learner_of(database: Database, channel: str, who: str) -> Learner:
    async with database.unit_of_work() as uow:
        learner = await uow.learners.get(channel, who)
    assert learner is not None
    return learner


async def test_privacy_says_what_is_kept_and_mydata_sends_all_of_it(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    lan = await busy_learner(tutor)
    said = words(await lan.type("/privacy"))
    assert "What do we keep about you?" in said
    assert "No phone number, no real name" in said
    assert "older than 365 days" in said

    (reply,) = await lan.type("/mydata")
    assert isinstance(reply, FileReply)
    assert reply.url is None  # Telegram carries the file itself
    learner = await learner_of(database, "telegram", "777001")
    assert reply.person == learner.id
    data = json.loads(await privacy.export_bytes(database, reply.person, clock()))
    tables = data["tables"]
    assert {
        "learners",
        "conversation_states",
        "lesson_progress",
        "events",
        "certificates",
        "referrals",
        "link_codes",
        "outbox",
    } <= set(tables)
    assert tables["learners"][0]["external_id"] == "777001"
    assert tables["certificates"][0]["display_name"] == "Bà Lan"
    assert {event["type"] for event in tables["events"]} >= {"lesson.completed", "question.asked"}
    assert "aside" not in tables["learners"][0]

    # Everything the database holds about them is in it: every row of every table that points
    # at them, found independently here by scanning each table.
    async with database.unit_of_work() as uow:
        for table in Base.metadata.sorted_tables:
            columns = [
                column
                for column in table.columns
                if any(key.column.table.name == "learners" for key in column.foreign_keys)
            ]
            if not columns:
                continue
            rows = (
                await uow.session.execute(select(table).where(*[], columns[0].in_([learner.id])))
            ).all()
            assert len(tables.get(table.name, [])) >= len(rows), table.name


async def test_zalo_gets_a_one_hour_link_that_downloads_the_same_data(
    database_url: str, clock: Clock
) -> None:
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        lessons_dir=FIXTURE_LESSONS,
        public_url=BASE,
        secret_key="s" * 40,
        report_refresh_seconds=0,
    )
    runtime = build(settings)
    runtime.tutor.clock = clock
    try:
        lan = Person(runtime.tutor, "zalo_bot", "zl-42")
        await lan.send(Start(payload="lang_en"))
        (reply,) = await lan.type("/mydata")
        assert isinstance(reply, FileReply)
        assert reply.url is not None
        assert reply.url.startswith(f"{BASE}/mydata/")
        assert reply.caption is not None
        assert reply.url in reply.caption
        assert "It works for 1 hour" in reply.caption
        app = create_app(runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url=BASE) as http,
        ):
            path = reply.url.removeprefix(BASE)
            got = await http.get(path)
            assert got.status_code == 200
            assert got.headers["content-type"] == "application/json"
            assert got.headers["cache-control"] == "no-store"
            assert "attachment" in got.headers["content-disposition"]
            assert got.json()["tables"]["learners"][0]["external_id"] == "zl-42"
            forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
            assert (await http.get(forged)).status_code == 404
            assert (await http.get("/mydata/not-a-token")).status_code == 404
            clock.advance(hours=1, minutes=1)
            assert (await http.get(path)).status_code == 404  # expired
    finally:
        await runtime.close()


def test_link_tokens_are_signed_and_expire(clock: Clock) -> None:
    token = privacy.sign(SECRET, 42, clock() + timedelta(hours=1))
    assert privacy.verify(SECRET, token, clock()) == 42
    assert privacy.verify(b"x" * 32, token, clock()) is None
    assert privacy.verify(SECRET, token, clock() + timedelta(hours=2)) is None
    for junk in ("", "a" * 200, "!!!!!!!!!!", token[:-2]):
        assert privacy.verify(SECRET, junk, clock()) is None


@pytest.fixture
async def web_runtime(database_url: str) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        lessons_dir=FIXTURE_LESSONS,
        report_refresh_seconds=0,
    )
    built = build(settings)
    yield built
    await built.close()


async def test_the_web_chat_downloads_the_visitors_own_data_only(web_runtime: Runtime) -> None:
    app = create_app(runtime=web_runtime)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http,
        httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as stranger,
    ):
        await http.get("/chat")
        await http.post("/chat/api/send", json={"id": "msg-000001", "kind": "start"})
        sent = await http.post(
            "/chat/api/send", json={"id": "msg-000002", "kind": "text", "text": "/mydata"}
        )
        (message,) = sent.json()["messages"]
        assert message["kind"] == "file"
        assert message["url"] == "/chat/mydata"
        assert "person" not in message
        got = await http.get(message["url"])
        assert got.status_code == 200
        visitor = http.cookies["camtay_chat"]
        assert got.json()["tables"]["learners"][0]["external_id"] == visitor
        await stranger.get("/chat")
        assert (await stranger.get("/chat/mydata")).status_code == 404


async def names_anywhere(database: Database, needles: list[str]) -> list[str]:
    """Every table and column whose text (or JSON) holds one of `needles`."""
    found = []
    async with database.unit_of_work() as uow:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String | Text) and "JSON" not in repr(column.type):
                    continue
                values = (await uow.session.execute(select(column))).scalars().all()
                for value in values:
                    blob = json.dumps(value, ensure_ascii=False) if value is not None else ""
                    if any(needle in blob for needle in needles):
                        found.append(f"{table.name}.{column.name}")
    return found


async def rows_pointing_at(database: Database, ids: list[int]) -> list[str]:
    found = []
    async with database.unit_of_work() as uow:
        for table in privacy.personal_tables():
            if table.name == "learners":
                query = select(table).where(table.c.id.in_(ids))
            else:
                columns = [
                    column
                    for column in table.columns
                    if any(key.column.table.name == "learners" for key in column.foreign_keys)
                ]
                if not columns:
                    continue
                query = select(table).where(columns[0].in_(ids))
            if (await uow.session.execute(query)).first() is not None:
                found.append(table.name)
    return found


async def test_forget_erases_everything_after_asking(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    lan = await busy_learner(tutor)
    learner = await learner_of(database, "telegram", "777001")
    async with database.unit_of_work() as uow:
        (certificate,) = await uow.certificates.of_person(learner.id)
    asked = words(await lan.type("/forget"))
    assert "Erase all your data?" in asked
    assert "Your data is kept as it was" in words(await lan.tap("↩️ No"))
    assert await rows_pointing_at(database, [learner.id])

    await lan.type("/forget")
    done = words(await lan.tap("🗑 Yes"))
    assert "All your data is erased" in done
    # Only the bare row that carried the goodbye is left, with the goodbye itself.
    assert await rows_pointing_at(database, [learner.id]) == ["learners", "outbox"]
    async with database.unit_of_work() as uow:
        left = (await uow.session.scalars(select(OutboxMessage))).all()
    assert [row.payload["text"] for row in left if row.learner_id == learner.id] == [
        "✅ All your data is erased. Thank you for learning with us! To start again from the "
        "beginning, type /start any time."
    ]
    async with database.unit_of_work() as uow:
        row = await uow.certificates.by_code(certificate.code)
        assert row is not None
        assert row.learner_id is None
        assert row.display_name == ""
        assert row.revoked_at is not None
        stub = await uow.session.get(Learner, learner.id)
        assert stub is not None
        assert stub.erased_at is not None
        assert stub.display_name is None
    assert await names_anywhere(database, ["Bà Lan", "fake bank text"]) == []
    # The volunteer's family view no longer lists them.
    minh = Person(tutor, "telegram", "555001")
    assert "Bà Lan" not in words(await minh.type("/family"))

    assert await privacy.purge_erased(database, clock()) == 0  # the goodbye is just sent
    clock.advance(minutes=2)
    assert await privacy.purge_erased(database, clock()) == 1
    assert await rows_pointing_at(database, [learner.id]) == []
    assert await names_anywhere(database, ["777001"]) == []

    # Back later: a brand-new learner, welcomed from the start.
    again = words(await lan.send(Start()))
    assert "Xin chào" in again or "Hello" in again


async def test_forget_clears_the_learners_keys_in_redis(
    database_url: str, redis: Redis, clock: Clock
) -> None:
    settings = Settings(
        database_url=database_url,
        redis_url="redis://127.0.0.1:6379/15",
        lessons_dir=FIXTURE_LESSONS,
        report_refresh_seconds=0,
    )
    runtime = build(settings)
    runtime.tutor.clock = clock
    try:
        tutor = runtime.tutor
        collector = Collector()
        for number, event in enumerate([Start(payload="lang_en"), Start()]):
            inbound = Inbound("telegram", "900900", event, update_id=f"u-{number}")
            await tutor.handle(inbound, collector)
        lan = Person(tutor, "telegram", "900900")
        await lan.type("/forget")
        await lan.tap("🗑 Yes")
        learner = await learner_of(runtime.database, "telegram", "900900")
        keys = [key.decode() async for key in redis.scan_iter("*")]
        values = [await redis.get(key) for key in keys if await redis.type(key) == b"string"]
        assert not [key for key in keys if "900900" in key]
        assert str(learner.id).encode() not in [value for value in values if value is not None]
    finally:
        await runtime.close()


async def test_an_admin_exports_and_erases_on_request(database_url: str, clock: Clock) -> None:
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        lessons_dir=FIXTURE_LESSONS,
        report_refresh_seconds=0,
    )
    runtime = build(settings)
    runtime.tutor.clock = clock
    try:
        lan = await busy_learner(runtime.tutor, "zalo_oa", "oa-31")
        learner = await learner_of(runtime.database, "zalo_oa", "oa-31")
        async with runtime.database.unit_of_work() as uow:
            _, token = await create_token(uow, role="admin", name="desk", now=clock())
            await uow.commit()
        app = create_app(runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url=BASE) as http,
        ):
            api = f"/admin/api/v1/learners/{learner.id}"
            data = await http.get(f"{api}/data", headers=headers)
            assert data.status_code == 200
            assert data.json()["tables"]["learners"][0]["external_id"] == "oa-31"
            missing = await http.post(f"{api}/erase", json={}, headers=headers)
            assert missing.status_code == 422
            erased = await http.post(
                f"{api}/erase", json={"reason": "asked by letter"}, headers=headers
            )
            assert erased.status_code == 200
            assert (await http.get(f"{api}/data", headers=headers)).status_code == 404
        assert await rows_pointing_at(runtime.database, [learner.id]) == []
        del lan
    finally:
        await runtime.close()


async def test_old_events_lose_who_did_them_and_what_was_typed(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    lan = Person(tutor, "telegram", "1")
    await lan.send(Start(payload="lang_en"))
    await lan.type("/ask is this bank text real?")
    clock.advance(days=400)
    await lan.type("/ask a newer question")
    assert await privacy.anonymise_events(database, clock(), days=365, batch=2) >= 2
    async with database.unit_of_work() as uow:
        events = (await uow.session.scalars(select(EventRecord).order_by(EventRecord.id))).all()
        mark = await uow.session.get(ReportMeta, privacy.RETENTION_MARK)
    old = [event for event in events if event.occurred_at < clock() - timedelta(days=365)]
    new = [event for event in events if event not in old]
    assert old
    assert new
    assert all(event.learner_id is None for event in old)
    assert all("text" not in (event.data or {}) for event in old)
    assert all(event.learner_id is not None for event in new)
    assert any(event.data.get("text") == "a newer question" for event in new)
    assert mark is not None
    assert int(mark.value) == old[-1].id
    assert await privacy.anonymise_events(database, clock(), days=365) == 0  # nothing new
    assert await privacy.anonymise_events(database, clock(), days=0) == 0  # retention off

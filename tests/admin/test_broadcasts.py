"""Broadcasts: segments, drafts, queueing into the outbox and sending, on SQLite and PostgreSQL.

The people (inserted directly, counted by hand):
  A  telegram, Nghệ An, THPT Phan Bội Châu, completed the demo module, active today
  B  zalo_bot, Nghệ An, THCS Hưng Dũng, nothing done, last seen 40 days ago
  C  web only, Nghệ An: no push channel, never a recipient
  D  telegram (3 days ago), Hà Nội, with a web account used today: reached on Telegram
  E  telegram (blocked the bot 10 days ago), Nghệ An, with a zalo_oa account used 5 days ago:
     reached on Zalo OA
  F  telegram (blocked the bot), Nghệ An: unreachable, never a recipient
  G  telegram, Hà Nội, in English
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy import text as sql

from admin import broadcasts
from admin.auth import create_token
from bot.engine import TextReply
from bot.engine.lesson import Catalog
from bot.settings import Settings
from bot.store import Database
from bot.store.migrate import upgrade
from bot.store.models import BULK_PRIORITY, AuditEntry, Broadcast, Learner, OutboxMessage
from bot.store.scratch import create_scratch, drop_scratch
from bot.wiring import Runtime, build
from tests.admin.conftest import MakeToken, bearer, build_runtime
from tests.admin.test_learners import PSBC, add_account, add_person
from tests.conftest import FIXTURE_LESSONS, Clock
from tests.fakes.telegram import FakeTelegram
from webhook.app import create_app

API = "/admin/api/v1"
TOKEN = "123456:TEST-token"


@dataclass
class People:
    a: int
    b: int
    c: int
    d: int
    e: int
    e_zalo: int
    f: int
    g: int


async def make_people(runtime: Runtime) -> People:
    a = await add_person(
        runtime, "9101", province="nghe-an", school=PSBC, completed=("first", "second"),
        equipped=True,
    )  # fmt: skip
    b = await add_person(
        runtime, "z-9102", channel="zalo_bot", province="nghe-an", school="THCS Hưng Dũng",
        idle_days=40,
    )  # fmt: skip
    c = await add_person(runtime, "w-9103", channel="web", province="nghe-an")
    d = await add_person(runtime, "9104", province="ha-noi", idle_days=3, completed=("first",))
    await add_account(runtime, d, "w-9104", channel="web")  # used today, but cannot be pushed to
    e = await add_person(runtime, "9105", province="nghe-an", unreachable=True, idle_days=10)
    e_zalo = await add_account(runtime, e, "oa-9105", channel="zalo_oa", idle_days=5)
    f = await add_person(runtime, "9106", province="nghe-an", unreachable=True)
    g = await add_person(runtime, "9107", province="ha-noi", locale="en")
    return People(a=a, b=b, c=c, d=d, e=e, e_zalo=e_zalo, f=f, g=g)


@pytest.fixture
async def people(runtime: Runtime) -> People:
    return await make_people(runtime)


async def post(
    client: httpx.AsyncClient, token: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(API + path, json=body, headers=bearer(token))


async def preview(client: httpx.AsyncClient, token: str, **segment: Any) -> int:
    response = await post(client, token, "/broadcasts/preview", {"segment": segment})
    assert response.status_code == 200, response.text
    number: int = response.json()["recipients"]
    return number


def draft(**segment: Any) -> dict[str, Any]:
    return {"text_vi": "Chào bà con!", "text_en": "Hello everyone!", "segment": segment}


async def outbox(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.database.unit_of_work() as uow:
        return list(
            (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        )


async def audit_actions(runtime: Runtime) -> list[tuple[str, Any]]:
    async with runtime.database.unit_of_work() as uow:
        entries = (await uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    return [(entry.action, entry.detail.get("broadcast_id")) for entry in entries]


# --- authentication and roles -------------------------------------------------------------------


ROUTES: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("POST", "/broadcasts/preview", {"segment": {}}),
    ("POST", "/broadcasts", draft()),
    ("GET", "/broadcasts", None),
    ("GET", "/broadcasts/1", None),
    ("POST", "/broadcasts/1/send", None),
)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_every_route_needs_an_admin_or_viewer_token(
    client: httpx.AsyncClient,
    make_token: MakeToken,
    runtime: Runtime,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    assert (await client.request(method, API + path, json=body)).status_code == 401
    bad = bearer("camtay_not-a-token")
    assert (await client.request(method, API + path, json=body, headers=bad)).status_code == 401
    analyst = bearer(await make_token("analyst"))
    assert (await client.request(method, API + path, json=body, headers=analyst)).status_code == 403
    async with runtime.database.unit_of_work() as uow:
        assert not (await uow.session.scalars(select(Broadcast))).all()
        assert not (await uow.session.scalars(select(AuditEntry))).all()


# --- segments -----------------------------------------------------------------------------------


async def test_preview_counts_people_reachable_on_a_push_channel(
    client: httpx.AsyncClient, make_token: MakeToken, people: People
) -> None:
    admin = await make_token("admin")
    assert await preview(client, admin) == 5  # A B D E G
    assert await preview(client, admin, province="nghe-an") == 3  # A B E
    assert await preview(client, admin, province="Hà Nội") == 2  # D G
    assert await preview(client, admin, school="thpt phan boi chau") == 1  # A
    assert await preview(client, admin, module="demo", module_status="completed") == 1  # A
    assert await preview(client, admin, module="demo", module_status="not_completed") == 4
    assert await preview(client, admin, module="more", module_status="completed") == 0
    assert await preview(client, admin, inactive_days=30) == 1  # B
    assert await preview(client, admin, inactive_days=2) == 2  # B, E (5 days); D wrote today
    assert (
        await preview(
            client, admin, province="nghe-an", inactive_days=2, module="demo",
            module_status="not_completed",
        )
        == 2  # B E
    )  # fmt: skip


async def test_a_viewers_segment_stays_inside_their_place(
    client: httpx.AsyncClient, make_token: MakeToken, people: People
) -> None:
    viewer = await make_token("viewer", province="nghe-an")
    assert await preview(client, viewer) == 3
    assert await preview(client, viewer, province="nghe-an", inactive_days=30) == 1
    assert await preview(client, viewer, school="THCS Hưng Dũng") == 1
    for segment in ({"province": "ha-noi"}, {"province": "Hà Nội", "school": PSBC}):
        response = await post(client, viewer, "/broadcasts/preview", {"segment": segment})
        assert response.status_code == 403
        assert (await post(client, viewer, "/broadcasts", draft(**segment))).status_code == 403
    school = await make_token("viewer", province="nghe-an", school=PSBC)
    assert await preview(client, school) == 1
    response = await post(client, school, "/broadcasts/preview", {"segment": {"school": "x y"}})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"segment": {"province": "atlantis"}},
        {"segment": {"module": "nope", "module_status": "completed"}},
        {"segment": {"module": "demo"}},
        {"segment": {"module_status": "completed"}},
        {"segment": {"module": "demo", "module_status": "maybe"}},
        {"segment": {"inactive_days": 0}},
        {"segment": {"inactive_days": "soon"}},
        {"segment": {"school": "!!!"}},
        {"segment": {"school": "a\x00b"}},
        {"segment": {"colour": "blue"}},
        {"segment": []},
        {"segment": {}, "extra": 1},
    ],
)
async def test_a_bad_segment_is_422(
    client: httpx.AsyncClient, make_token: MakeToken, body: dict[str, Any]
) -> None:
    admin = await make_token("admin")
    assert (await post(client, admin, "/broadcasts/preview", body)).status_code == 422
    full = {"text_vi": "Chào", "text_en": "Hello", **body}
    assert (await post(client, admin, "/broadcasts", full)).status_code == 422


@pytest.mark.parametrize(
    "texts",
    [
        {"text_vi": "", "text_en": "Hello"},
        {"text_vi": "Chào", "text_en": "   "},
        {"text_vi": "x" * 1001, "text_en": "Hello"},
        {"text_vi": "Chào\x00", "text_en": "Hello"},
        {"text_vi": "Chào"},
        {"text_vi": 5, "text_en": "Hello"},
    ],
)
async def test_bad_texts_are_422(
    client: httpx.AsyncClient, make_token: MakeToken, texts: dict[str, Any]
) -> None:
    response = await post(client, await make_token("admin"), "/broadcasts", texts)
    assert response.status_code == 422


async def test_bad_ids_are_422_or_404(client: httpx.AsyncClient, make_token: MakeToken) -> None:
    admin = await make_token("admin")
    for path in ("/broadcasts/0", f"/broadcasts/{2**63}", "/broadcasts/x"):
        assert (await client.get(API + path, headers=bearer(admin))).status_code == 422
        assert (await post(client, admin, path + "/send")).status_code == 422
    assert (await client.get(API + "/broadcasts/99", headers=bearer(admin))).status_code == 404
    assert (await post(client, admin, "/broadcasts/99/send")).status_code == 404
    response = await client.get(API + "/broadcasts", params={"limit": 0}, headers=bearer(admin))
    assert response.status_code == 422


# --- drafts and queueing --------------------------------------------------------------------------


async def test_a_draft_queues_one_message_per_person_on_the_account_that_reaches_them(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    admin = await make_token("admin", name="Sở GD")
    expected = await preview(client, admin)
    created = await post(client, admin, "/broadcasts", draft())
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["status"], body["recipients"], body["author"]) == ("draft", 0, "Sở GD")
    assert body["segment"]["scope"] == {"province": None, "school_key": None}
    assert await outbox(runtime) == []  # a draft sends nothing

    sent = await post(client, admin, f"/broadcasts/{body['id']}/send")
    assert sent.status_code == 200, sent.text
    result = sent.json()
    assert result["status"] == "queued"
    assert result["queued_at"] is not None
    assert result["recipients"] == expected == 5
    assert result["counts"] == {"queued": 5, "sent": 0, "failed": 0, "held": 0, "cancelled": 0}
    rows = await outbox(runtime)
    assert len(rows) == expected
    by_account = {row.learner_id: row for row in rows}
    assert set(by_account) == {people.a, people.b, people.d, people.e_zalo, people.g}
    assert by_account[people.e_zalo].channel == "zalo_oa"
    assert by_account[people.b].channel == "zalo_bot"
    for row in rows:
        assert (row.status, row.priority, row.broadcast_id) == (
            "pending",
            BULK_PRIORITY,
            body["id"],
        )
    assert by_account[people.g].payload == {"kind": "text", "text": "Hello everyone!"}
    assert by_account[people.a].payload == {"kind": "text", "text": "Chào bà con!"}

    again = await post(client, admin, f"/broadcasts/{body['id']}/send")
    assert again.status_code == 409
    assert len(await outbox(runtime)) == expected
    assert await audit_actions(runtime) == [
        ("broadcast.create", body["id"]),
        ("broadcast.send", body["id"]),
    ]
    shown = (await client.get(API + f"/broadcasts/{body['id']}", headers=bearer(admin))).json()
    assert shown == result
    assert "9101" not in str(shown)


async def test_queueing_in_small_batches_reaches_everyone_once(
    client: httpx.AsyncClient,
    make_token: MakeToken,
    people: People,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for number in range(5):
        person = await add_person(runtime, f"95{number}", province="nghe-an", idle_days=1)
        await add_account(runtime, person, f"z95{number}", channel="zalo_bot")
    monkeypatch.setattr(broadcasts, "QUEUE_BATCH", 2)
    admin = await make_token("admin")
    expected = await preview(client, admin, province="nghe-an")
    assert expected == 8
    made = (await post(client, admin, "/broadcasts", draft(province="nghe-an"))).json()
    first = (await post(client, admin, f"/broadcasts/{made['id']}/send")).json()
    assert (first["status"], first["recipients"]) == ("queueing", 2)  # the rest goes on behind
    result = await until_queued(client, admin, made["id"])
    assert result["recipients"] == result["counts"]["queued"] == expected
    rows = await outbox(runtime)
    async with runtime.database.unit_of_work() as uow:
        owners = {
            account.id: account.person_id or account.id
            for account in (await uow.session.scalars(select(Learner))).all()
        }
    recipients = [owners[row.learner_id] for row in rows]
    assert len(recipients) == len(set(recipients)) == expected


async def until_queued(client: httpx.AsyncClient, token: str, broadcast_id: int) -> Any:
    for _ in range(200):
        shown = await client.get(f"{API}/broadcasts/{broadcast_id}", headers=bearer(token))
        if shown.json()["status"] == "queued":
            return shown.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"broadcast {broadcast_id} still {shown.json()['status']}")


async def test_queueing_left_half_way_is_resumed_once_even_by_two_processes(
    client: httpx.AsyncClient,
    make_token: MakeToken,
    people: People,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for number in range(7):
        await add_person(runtime, f"96{number}", province="nghe-an", idle_days=1)
    admin = await make_token("admin")
    expected = await preview(client, admin, province="nghe-an")
    made = (await post(client, admin, "/broadcasts", draft(province="nghe-an"))).json()
    monkeypatch.setattr(broadcasts, "QUEUE_BATCH", 2)
    # The process stops after its first batch: no background task carries on.
    monkeypatch.setattr(broadcasts, "keep", lambda task: task.cancel())
    first = (await post(client, admin, f"/broadcasts/{made['id']}/send")).json()
    assert first["status"] == "queueing"
    # Two processes' upkeep find it and finish it together.
    await asyncio.gather(broadcasts.resume(runtime), broadcasts.resume(runtime))
    result = await until_queued(client, admin, made["id"])
    assert result["recipients"] == expected
    rows = [row for row in await outbox(runtime) if row.broadcast_id == made["id"]]
    assert len(rows) == len({row.learner_id for row in rows}) == expected


async def test_a_viewers_broadcast_reaches_only_their_place(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    viewer = await make_token("viewer", province="nghe-an")
    made = (await post(client, viewer, "/broadcasts", draft())).json()
    assert made["segment"]["scope"] == {"province": "nghe-an", "school_key": None}
    admin = await make_token("admin")
    # Even sent by an admin, the broadcast keeps the scope of the token that made it.
    result = (await post(client, admin, f"/broadcasts/{made['id']}/send")).json()
    assert result["recipients"] == 3
    assert {row.learner_id for row in await outbox(runtime)} == {people.a, people.b, people.e_zalo}


async def test_viewers_see_only_the_broadcasts_of_their_place(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    admin = await make_token("admin")
    nghe_an = await make_token("viewer", province="nghe-an")
    school = await make_token("viewer", province="nghe-an", school=PSBC)
    ha_noi = await make_token("viewer", province="ha-noi")
    by_admin = (await post(client, admin, "/broadcasts", draft())).json()["id"]
    by_province = (await post(client, nghe_an, "/broadcasts", draft())).json()["id"]
    by_school = (await post(client, school, "/broadcasts", draft())).json()["id"]
    by_ha_noi = (await post(client, ha_noi, "/broadcasts", draft())).json()["id"]

    async def listed(token: str, **params: Any) -> list[int]:
        response = await client.get(API + "/broadcasts", params=params, headers=bearer(token))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await listed(admin) == [by_ha_noi, by_school, by_province, by_admin]
    assert await listed(nghe_an) == [by_school, by_province]
    assert await listed(school) == [by_school]
    assert await listed(ha_noi) == [by_ha_noi]
    page = (
        await client.get(API + "/broadcasts", params={"limit": 3}, headers=bearer(admin))
    ).json()
    assert page["next"] == by_province
    assert await listed(admin, before=page["next"]) == [by_admin]
    for hidden in (by_admin, by_province, by_school):
        assert (
            await client.get(API + f"/broadcasts/{hidden}", headers=bearer(ha_noi))
        ).status_code == 404
        assert (await post(client, ha_noi, f"/broadcasts/{hidden}/send")).status_code == 404
    assert (await post(client, school, f"/broadcasts/{by_province}/send")).status_code == 404
    assert await outbox(runtime) == []
    assert (await post(client, nghe_an, f"/broadcasts/{by_school}/send")).status_code == 200
    assert {row.learner_id for row in await outbox(runtime)} == {people.a}


async def test_counts_follow_the_outbox_statuses(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    admin = await make_token("admin")
    made = (await post(client, admin, "/broadcasts", draft())).json()
    await post(client, admin, f"/broadcasts/{made['id']}/send")
    rows = await outbox(runtime)
    statuses = {
        rows[0].id: "sent",
        rows[1].id: "held",
        rows[2].id: "failed",
        rows[3].id: "cancelled",
    }
    async with runtime.database.unit_of_work() as uow:
        for message_id, status in statuses.items():
            await uow.session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id).values(status=status)
            )
        await uow.commit()
    shown = (await client.get(API + f"/broadcasts/{made['id']}", headers=bearer(admin))).json()
    assert shown["counts"] == {"queued": 1, "sent": 1, "failed": 1, "held": 1, "cancelled": 1}
    listed = (await client.get(API + "/broadcasts", headers=bearer(admin))).json()
    assert listed["items"][0]["counts"] == shown["counts"]


# --- sending through the real worker --------------------------------------------------------------


@pytest.fixture
async def telegram_runtime(
    database_url: str, clock: Clock, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, FakeTelegram]]:
    """The app with a Telegram channel against the fake Bot API; no embedded worker."""
    async with FakeTelegram(token=TOKEN) as fake:
        settings = Settings(
            database_url=database_url, redis_url=None, lessons_dir=FIXTURE_LESSONS,
            telegram_token=TOKEN, telegram_webhook_secret="s3cret_token-1",
            telegram_api_url=fake.base_url, embedded_worker=False, report_refresh_seconds=0,
            telegram_per_bot_rate=1000, telegram_per_chat_rate=1000,
        )  # fmt: skip
        runtime = build(settings)
        runtime.tutor.clock = clock
        runtime.worker.base_delay = 0.05
        try:
            yield runtime, fake
        finally:
            await runtime.close()


async def test_the_worker_sends_a_queued_broadcast(
    telegram_runtime: tuple[Runtime, FakeTelegram],
) -> None:
    runtime, fake = telegram_runtime
    chats = [9201, 9202, 9203]
    for chat in chats:
        await add_person(
            runtime, str(chat), province="nghe-an", locale="en" if chat == 9203 else "vi"
        )
    await add_person(runtime, "9204", channel="web", province="nghe-an")
    async with runtime.database.unit_of_work() as uow:
        _, token = await create_token(uow, role="admin", name="ops", now=runtime.tutor.clock())
        await uow.commit()
    app = create_app(runtime=runtime)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert await preview(client, token) == 3
        made = (await post(client, token, "/broadcasts", draft())).json()
        # The first message finds a learner who blocked the bot: cancelled, the rest go out.
        fake.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
        queued = (await post(client, token, f"/broadcasts/{made['id']}/send")).json()
        assert queued["counts"]["queued"] == 3
        while await runtime.worker.run_once():
            pass
        shown = (await client.get(API + f"/broadcasts/{made['id']}", headers=bearer(token))).json()
    assert shown["counts"] == {"queued": 0, "sent": 2, "failed": 0, "held": 0, "cancelled": 1}
    delivered = {call.chat_id: call.params["text"] for call in fake.sent("sendMessage", ok=True)}
    assert len(delivered) == 2
    assert set(delivered) < set(chats)
    for chat_id, text in delivered.items():
        assert text == ("Hello everyone!" if chat_id == 9203 else "Chào bà con!")
    async with runtime.database.unit_of_work() as uow:
        blocked = (
            await uow.session.scalars(select(Learner).where(Learner.unreachable_at.is_not(None)))
        ).all()
    assert len(blocked) == 1
    assert int(blocked[0].external_id) in set(chats) - set(delivered)


async def test_a_segment_whose_module_left_the_lessons_stays_a_draft(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    admin = await make_token("admin")
    made = (
        await post(client, admin, "/broadcasts", draft(module="more", module_status="completed"))
    ).json()
    demo = runtime.catalog.module("demo")
    assert demo is not None
    runtime.catalog = Catalog([demo], runtime.catalog.lessons_of(demo))  # a reload without "more"
    assert (await post(client, admin, f"/broadcasts/{made['id']}/send")).status_code == 409
    shown = (await client.get(API + f"/broadcasts/{made['id']}", headers=bearer(admin))).json()
    assert shown["status"] == "draft"
    assert await audit_actions(runtime) == [("broadcast.create", made["id"])]


# --- a large broadcast and the worker's plans ---------------------------------------------------


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database of its own: no statistics left by other tests."""
    url = asyncio.run(create_scratch(postgres_url, "camtay_plans"))
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(drop_scratch(postgres_url, url))


FLUSH_COUNTS = sql("SELECT pg_stat_force_next_flush()")
"""The connection's activity counts reach pg_stat_* as its transaction ends (PostgreSQL 15+)."""


async def pending_rows_read(database: Database) -> int:
    """Index entries read so far from the outbox's index by status and channel: the one a
    claim must not walk (it reads the learner's own messages by ix_outbox_status_learner_id_id)."""
    async with database.unit_of_work() as uow:
        reads = await uow.session.scalar(
            sql(
                "SELECT idx_tup_read FROM pg_stat_user_indexes "
                "WHERE indexrelname = 'ix_outbox_status_channel_priority'"
            )
        )
    return int(reads or 0)


@pytest.mark.postgres
async def test_after_a_large_broadcast_a_claim_reads_only_the_learners_own_messages(
    fresh_postgres: str, clock: Clock
) -> None:
    """A worker's connection plans its claims while the outbox holds a few replies; then a
    broadcast to 3,000 people fills it. The next claim on that connection must not read every
    pending message: with the plan kept from the small outbox, each claim read them all (twice),
    and a 100,000-person broadcast went out at 10 messages a second instead of 29."""
    runtime = build_runtime(fresh_postgres, clock)
    worker = Database(fresh_postgres, pool_size=1)  # one connection: its plans are the ones read
    now = clock()
    try:
        async with runtime.database.unit_of_work() as uow:
            await uow.session.execute(
                insert(Learner),
                [
                    {"channel": "telegram", "external_id": str(9_000_000 + number),
                     "locale": "vi", "created_at": now, "last_active_at": now}
                    for number in range(3000)
                ],
            )  # fmt: skip
            await uow.commit()
            ids = list((await uow.session.scalars(select(Learner.id).order_by(Learner.id))).all())
            for learner in (await uow.session.scalars(select(Learner).limit(10))).all():
                await uow.outbox.add(learner, [TextReply(text="Chào bà!")], now)
            await uow.commit()
        for learner_id in ids[:8]:  # after five, PostgreSQL keeps one plan for every claim
            async with worker.unit_of_work() as uow:
                assert await uow.outbox.claim_next(learner_id, now) is not None

        async with runtime.database.unit_of_work() as uow:
            _, token = await create_token(uow, role="admin", name="ops", now=now)
            await uow.commit()
        app = create_app(runtime=runtime)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            made = (await post(http, token, "/broadcasts", draft())).json()
            await post(http, token, f"/broadcasts/{made['id']}/send")
            assert (await until_queued(http, token, made["id"]))["recipients"] == 3000

        # Every connection's counts so far reach the statistics: closed ones on closing, and
        # the worker's as its next transaction ends.
        await runtime.database.dispose()
        async with worker.unit_of_work() as uow:
            await uow.session.execute(FLUSH_COUNTS)
        before = await pending_rows_read(runtime.database)
        async with worker.unit_of_work() as uow:  # the newest person's message: queued last
            claimed = await uow.outbox.claim_next(ids[-1], now)
            assert claimed is not None
            assert claimed.priority == BULK_PRIORITY
            await uow.session.execute(FLUSH_COUNTS)
        read = await pending_rows_read(runtime.database) - before
        assert read < 50, f"one claim read {read} entries of the pending messages' index"
    finally:
        await worker.dispose()
        await runtime.close()

"""Hardening: body limits on every route, flood and admin rate limits, production settings
that refuse to start, security headers, and cross-site requests refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot import flood
from bot.cli import app as cli
from bot.engine import Input, Start, TextInput
from bot.flood import AddressLimits, FloodGate, limits_storage
from bot.service import Collector, Inbound
from bot.settings import Settings, is_placeholder
from bot.store.models import Learner, OutboxMessage
from bot.wiring import Runtime, build, migrate_if_embedded
from tests.conftest import FIXTURE_LESSONS
from tests.fakes import updates
from tests.served import in_process
from webhook import chat
from webhook.app import create_app

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://camtay.test"
TELEGRAM_SECRET = "hardening_secret_0001"
TELEGRAM: dict[str, Any] = {
    "telegram_token": "123456:TEST-token",
    "telegram_webhook_secret": TELEGRAM_SECRET,
    "telegram_api_url": "http://127.0.0.1:9",  # nothing listens: no Bot API call is awaited
}


def settings_for(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        sqlite_path=tmp_path / "hard.sqlite3",
        lessons_dir=FIXTURE_LESSONS,
        database_url=None,
        redis_url=None,
        report_refresh_seconds=0,
        embedded_worker=False,
        **extra,
    )


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = settings_for(
        tmp_path,
        flood_per_minute=3,
        admin_per_ip_per_minute=6,
        admin_logins_per_ip_per_minute=2,
        **TELEGRAM,
    )
    migrate_if_embedded(settings)
    built = build(settings)
    yield built
    await built.close()


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=runtime)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        yield client


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.database.unit_of_work() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


# --- body limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "size"),
    [
        ("/webhook/telegram", 1024 * 1024 + 1),
        ("/webhook/zalo-bot", 1024 * 1024 + 1),
        ("/chat/api/send", 16 * 1024 + 1),
        ("/admin/login", 4096 + 1),
        ("/admin/api/v1/broadcasts", 64 * 1024 + 1),
        ("/healthz", 16 * 1024 + 1),
        ("/verify/ABC", 16 * 1024 + 1),
    ],
)
async def test_a_body_over_its_paths_limit_is_refused_with_413_unread(
    http: httpx.AsyncClient, runtime: Runtime, path: str, size: int
) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
    }
    response = await http.post(path, content=b"x" * size, headers=headers)
    assert response.status_code == 413
    assert "detail" in response.json()
    assert await count(runtime, Learner) == 0


async def test_a_streamed_body_is_counted_while_it_arrives(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(4096):
            sent += 1
            yield b" " * 1024

    response = await http.post(
        "/webhook/telegram",
        content=chunks(),
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    assert response.status_code == 413
    assert sent < 4096  # refused before the whole body was read
    assert await count(runtime, Learner) == 0


async def test_a_body_within_its_limit_still_reaches_the_route(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/chat/api/send", json={"id": "within-limit-1", "kind": "text", "text": "a" * 3000}
    )
    assert response.status_code == 200


# --- per-learner flood limit --------------------------------------------------------------


async def test_a_flood_gets_one_slow_down_reply_then_is_dropped(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    replies = []
    for number in range(6):
        response = await http.post(
            "/chat/api/send", json={"id": f"flood-{number:04d}", "kind": "text", "text": "hi"}
        )
        assert response.status_code == 200  # the platform must not retry a dropped input
        replies.append(response.json())
    assert all(reply["messages"] for reply in replies[:3])
    warning = replies[3]["messages"]
    assert [message["text"] for message in warning] == [flood.SLOW_DOWN["vi"]]
    assert replies[4] == {"duplicate": True, "messages": []}
    assert replies[5] == {"duplicate": True, "messages": []}
    # Nothing of the dropped inputs was kept: one reply more than the three turns' own.
    async with runtime.database.unit_of_work() as uow:
        texts = [
            row.payload.get("text") for row in (await uow.session.scalars(select(OutboxMessage)))
        ]
    assert texts.count(flood.SLOW_DOWN["vi"]) == 1
    # Another learner is not held up by this one's flood.
    async with httpx.AsyncClient(transport=http._transport, base_url=BASE) as other:
        fresh = await other.post("/chat/api/send", json={"id": "other-0001", "kind": "start"})
        assert fresh.json()["messages"]


async def test_the_slow_down_reply_speaks_the_learners_language(runtime: Runtime) -> None:
    tutor = runtime.tutor
    replies = []
    events: list[Input] = [
        Start(payload="lang_en"),
        TextInput(text="a"),
        TextInput(text="b"),
        TextInput(text="c"),
    ]
    for number, event in enumerate(events):
        collector = Collector()
        inbound = Inbound(
            channel="web", external_id="en-visitor", input=event, update_id=f"u{number}"
        )
        await tutor.handle(inbound, collector)
        replies.append([getattr(m.reply, "text", "") for m in collector.messages])
    assert replies[-1] == [flood.SLOW_DOWN["en"]]


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_the_flood_gate_warns_once_per_window(backend: str) -> None:
    client: Redis | None = None
    if backend == "redis":
        from tests.conftest import connect_redis

        client = await connect_redis()
    try:
        first = FloodGate(limits_storage(client, "camtay:flood"), per_minute=2)
        second = FloodGate(limits_storage(client, "camtay:flood"), per_minute=2)
        verdicts = [await gate.check("telegram", "42") for gate in (first, second, first, second)]
        if backend == "redis":  # two processes, one window
            assert verdicts == ["ok", "ok", "warn", "drop"]
        else:  # each process counts alone
            assert verdicts == ["ok", "ok", "ok", "ok"]
            assert await first.check("telegram", "42") == "warn"
            assert await first.check("telegram", "42") == "drop"
        assert await first.check("telegram", "43") == "ok"
    finally:
        if client is not None:
            await client.aclose()


def test_limits_are_on_in_production_and_off_in_development_by_default() -> None:
    development = Settings(environment="development")
    production = Settings(environment="production")
    assert development.effective_flood_per_minute == 0
    assert production.effective_flood_per_minute == 30
    assert production.effective_admin_per_ip_per_minute == 300
    assert production.effective_admin_logins_per_ip_per_minute == 10
    assert Settings(flood_per_minute=5).effective_flood_per_minute == 5
    assert development.effective_telegram_turns_in_progress == 0
    assert production.effective_telegram_turns_in_progress == 32


# --- load shedding ------------------------------------------------------------------------


@asynccontextmanager
async def telegram_app(
    tmp_path: Path, **extra: Any
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """A runtime of its own, with Telegram and these settings, and a client of its app."""
    async with in_process(settings_for(tmp_path, **extra, **TELEGRAM)) as app:
        yield app.runtime, app.http


HOOK_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}


async def start(http: httpx.AsyncClient, update_id: int, chat_id: int) -> httpx.Response:
    """A learner's /start, as Telegram posts it."""
    body = updates.text_message(update_id, chat_id, "/start")
    return await http.post("/webhook/telegram", json=body, headers=HOOK_HEADERS)


async def test_telegram_updates_over_the_bound_wait_for_a_place_then_get_503_and_come_again(
    tmp_path: Path,
) -> None:
    def shed() -> float:
        return (
            REGISTRY.get_sample_value(
                "camtay_updates_total", {"channel": "telegram", "result": "shed"}
            )
            or 0.0
        )

    def waited() -> float:
        return REGISTRY.get_sample_value("camtay_place_wait_seconds_count") or 0.0

    shed_before, waited_before = shed(), waited()
    async with telegram_app(
        tmp_path, telegram_turns_in_progress=2, telegram_wait_for_place_ms=300
    ) as (runtime, http):
        # One learner's lock is held: their two updates fill the places.
        free = asyncio.Event()

        async def hold_the_lock() -> None:
            async with runtime.locks.hold("telegram:4242"):
                await free.wait()

        holder = asyncio.create_task(hold_the_lock())
        await asyncio.sleep(0.05)
        waiting = [asyncio.create_task(start(http, n, 4242)) for n in (1, 2)]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in waiting)
        # A third waits for a place, and is turned away when none frees in time.
        started = time.perf_counter()
        turned_away = await start(http, 3, 4343)
        assert turned_away.status_code == 503
        assert time.perf_counter() - started >= 0.3
        assert turned_away.headers["retry-after"] == "1"
        assert await count(runtime, Learner) == 0  # not read, nothing written
        zalo = await http.post("/webhook/zalo-bot", json={}, headers=HOOK_HEADERS)
        assert zalo.status_code != 503  # only Telegram is known to deliver again
        # A fourth gets the place that frees while it waits.
        fourth = asyncio.create_task(start(http, 4, 4444))
        await asyncio.sleep(0.1)
        assert not fourth.done()
        free.set()
        await holder
        assert [(await task).status_code for task in waiting] == [200, 200]
        taken_in = await fourth
        assert taken_in.status_code == 200
        assert taken_in.json()["outcome"] == "turn"
        again = await start(http, 3, 4343)  # Telegram's redelivery
        assert again.status_code == 200
        assert again.json()["outcome"] == "turn"
    assert shed() == shed_before + 1
    assert waited() == waited_before + 2


async def test_with_no_wait_for_a_place_an_update_over_the_bound_gets_503_at_once(
    tmp_path: Path,
) -> None:
    async with telegram_app(
        tmp_path, telegram_turns_in_progress=1, telegram_wait_for_place_ms=0
    ) as (runtime, http):
        async with runtime.locks.hold("telegram:4242"):
            held = asyncio.create_task(start(http, 1, 4242))
            await asyncio.sleep(0.1)
            started = time.perf_counter()
            turned_away = await start(http, 2, 4343)
            assert turned_away.status_code == 503
            assert time.perf_counter() - started < 0.1
        assert (await held).status_code == 200


# --- per-address admin limit --------------------------------------------------------------


async def test_admin_requests_over_the_per_address_limit_get_429_with_retry_after(
    runtime: Runtime,
) -> None:
    app = create_app(runtime=runtime)
    mine = httpx.ASGITransport(app=app, client=("203.0.113.5", 4000))
    theirs = httpx.ASGITransport(app=app, client=("203.0.113.6", 4000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=mine, base_url=BASE) as http,
        httpx.AsyncClient(transport=theirs, base_url=BASE) as other,
    ):
        statuses = [
            (await http.get("/admin/api/v1/reports/progress")).status_code for _ in range(7)
        ]
        assert statuses[:6] == [401] * 6
        assert statuses[6] == 429
        refused = await http.get("/admin/login")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert (await other.get("/admin/login")).status_code == 200  # another address
        assert (await http.get("/chat")).status_code == 200  # only /admin is limited


async def test_sign_ins_have_a_tighter_limit(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 4000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE) as http,
    ):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        statuses = [
            (
                await http.post("/admin/login", content="token=camtay_wrong", headers=form)
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [401, 401, 429]


async def test_a_storage_that_fails_lets_requests_through() -> None:
    broken = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    try:
        gate = FloodGate(limits_storage(broken, "camtay:flood"), per_minute=1)
        assert [await gate.check("web", "x") for _ in range(3)] == ["ok"] * 3
        limits = AddressLimits(limits_storage(broken, "camtay:admin-limit"), per_minute=1)
        assert await limits.check("192.0.2.1", login=True) is None
    finally:
        await broken.aclose()


# --- production settings ------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "environment": "production",
    "secret_key": "Qm9uZ0RhbmgtU29uZy1UaHUtSGEtTm9pLTIwMjY",
    "database_url": "postgresql+asyncpg://camtay:R4nd0mPassw0rdVN@db.internal:5432/camtay",
    "redis_url": "redis://redis.internal:6379/0",
    "public_url": "https://hoc.camtay.vn",
    "telegram_token": "123456:AAF-real-looking-token",
    "telegram_webhook_secret": "k2JbX9q_LmP0vR7tZ4wY",
}


def test_sound_production_settings_have_no_problems() -> None:
    assert Settings(_env_file=None, **GOOD).production_problems() == []
    assert Settings(_env_file=None, environment="development").production_problems() == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"secret_key": None}, "CAMTAY_SECRET_KEY is not set"),
        ({"secret_key": "change-me"}, "CAMTAY_SECRET_KEY is a placeholder"),
        ({"secret_key": "secret"}, "CAMTAY_SECRET_KEY is a placeholder"),
        ({"secret_key": "short-but-random-9f3k"}, "characters long"),
        ({"telegram_webhook_secret": None}, "CAMTAY_TELEGRAM_WEBHOOK_SECRET is not"),
        ({"telegram_webhook_secret": "xxx"}, "CAMTAY_TELEGRAM_WEBHOOK_SECRET is a placeholder"),
        ({"telegram_webhook_secret": "abc123"}, "CAMTAY_TELEGRAM_WEBHOOK_SECRET is 6"),
        ({"zalo_bot_token": "1:zalo"}, "CAMTAY_ZALO_BOT_WEBHOOK_SECRET is not"),
        ({"database_url": None}, "CAMTAY_DATABASE_URL is not set"),
        ({"database_url": "sqlite+aiosqlite:///x.db"}, "not a PostgreSQL URL"),
        (
            {"database_url": "postgresql+asyncpg://camtay:change-me@db:5432/camtay"},
            "placeholder password",
        ),
        ({"redis_url": None}, "CAMTAY_REDIS_URL is not set"),
        ({"public_url": "http://hoc.camtay.vn"}, "https://"),
        ({"public_url": "https://tutor.example.org"}, "example address"),
    ],
)
def test_each_unsafe_production_setting_is_named(change: dict[str, Any], named: str) -> None:
    problems = Settings(_env_file=None, **(GOOD | change)).production_problems()
    assert any(named in problem for problem in problems), problems


def test_the_deploy_examples_placeholders_are_all_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in __import__("os").environ if name.startswith("CAMTAY_")]:
        monkeypatch.delenv(name)
    example = Settings(_env_file=ROOT / "deploy" / "env.example", environment="production")
    problems = " ".join(example.production_problems())
    assert "CAMTAY_SECRET_KEY" in problems
    assert "CAMTAY_PUBLIC_URL" in problems
    # compose builds the database URL from POSTGRES_PASSWORD, the example's own placeholder
    password = next(
        line.split("=", 1)[1]
        for line in (ROOT / "deploy" / "env.example").read_text(encoding="utf-8").splitlines()
        if line.startswith("POSTGRES_PASSWORD=")
    )
    assert is_placeholder(password)
    for value in ("change-me", "CHANGEME", "placeholder", "xxxxxxxx", "your-secret-here", "aaaa"):
        assert is_placeholder(value), value
    assert not is_placeholder(GOOD["secret_key"])


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_to_start_in_production_with_placeholders(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in __import__("os").environ if name.startswith("CAMTAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no developer .env
    env = {
        "CAMTAY_ENVIRONMENT": "production",
        "CAMTAY_SECRET_KEY": "change-me",
        "CAMTAY_PUBLIC_URL": "https://tutor.example.org",
    }
    result = CliRunner().invoke(cli, [command], env=env)
    assert result.exit_code == 2, result.output
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "will not start in production" in output
    assert "CAMTAY_SECRET_KEY is a placeholder" in output
    assert "CAMTAY_DATABASE_URL is not set" in output
    assert "CAMTAY_REDIS_URL is not set" in output


# --- security headers ---------------------------------------------------------------------


async def test_the_chat_page_has_a_strict_policy_and_no_inline_script(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/chat")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "camera=()" in page.headers["permissions-policy"]
    assert "strict-transport-security" not in page.headers  # plain http here
    for inline in ("<script>", "<style", "style="):
        assert inline not in page.text
    script = await http.get("/chat/static/chat.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # text is drawn with textContent only
    assert (await http.get("/chat/static/chat.css")).headers["content-type"].startswith("text/css")
    assert (await http.get("/chat/static/chat.html")).status_code == 404


@pytest.mark.parametrize("path", ["/chat", "/admin/login", "/verify/NOPE-CODE", "/healthz"])
async def test_security_headers_everywhere_and_hsts_over_https(runtime: Runtime, path: str) -> None:
    app = create_app(runtime=runtime)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://camtay.test"
        ) as http,
    ):
        response = await http.get(path)
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    if response.headers["content-type"].startswith("text/html"):
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy


# --- cross-site requests ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
    ],
    ids=["evil-origin", "null-origin", "cross-site", "same-site", "text-plain", "form"],
)
async def test_a_cross_site_chat_post_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    body = b'{"id": "csrf-000001", "kind": "start"}'
    response = await http.post(
        "/chat/api/send",
        content=body,
        headers={"Content-Type": "application/json", "Cookie": "camtay_chat=victim-0001"} | headers,
    )
    assert response.status_code == 403
    assert await count(runtime, Learner) == 0
    assert await count(runtime, OutboxMessage) == 0


async def test_the_page_itself_and_plain_clients_may_post(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    same = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    assert (
        await http.post("/chat/api/send", json={"id": "page-000001", "kind": "start"}, headers=same)
    ).status_code == 200
    assert (
        await http.post("/chat/api/send", json={"id": "curl-000001", "kind": "start"})
    ).status_code == 200
    history = await http.get("/chat/api/history", headers={"Sec-Fetch-Site": "cross-site"})
    assert history.status_code == 403
    assert (await http.get("/chat/api/history", headers={"Sec-Fetch-Site": "same-origin"})).json()[
        "messages"
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Referer": "https://evil.example/form"},
        {"Content-Type": "text/plain"},
    ],
)
async def test_a_cross_site_sign_in_is_refused(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post(
        "/admin/login",
        content="token=camtay_anything",
        headers={"Content-Type": "application/x-www-form-urlencoded"} | headers,
    )
    assert response.status_code == 403
    assert "camtay_admin" not in response.headers.get("set-cookie", "")


def test_the_chat_knows_its_own_origin_behind_a_proxy() -> None:
    assert chat._bare("Camtay.Test:443") == "camtay.test"
    assert chat._bare("camtay.test:8443") == "camtay.test:8443"

"""PostgreSQL or Redis out of reach: a 503 with Retry-After, never a 500, and the platform's
redelivery applied exactly once when the service is back (bot/outages.py, webhook.app.Outages)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from admin.auth import TOKEN_PREFIX
from bot import outages
from bot.outages import log_failure, unreachable
from bot.settings import Settings
from bot.store import Database
from bot.store.driver import driver
from bot.store.models import OutboxMessage, ProcessedUpdate
from bot.wiring import Runtime
from tests.conftest import FIXTURE_LESSONS, Clock, unavailable
from tests.fakes import updates
from tests.fakes.telegram import FakeTelegram
from tests.served import OwnRedis, Served, free_port, in_process
from webhook.app import UNAVAILABLE
from webhook.telegram import OUTCOME_HEADER

TOKEN = "123456:OUTAGE-token"
SECRET = "outage_secret-1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
CHAT = 4242


def unavailable_count() -> float:
    labels = {"channel": "telegram", "result": "unavailable"}
    return REGISTRY.get_sample_value("camtay_updates_total", labels) or 0.0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    redis = OwnRedis(free_port(), tmp_path)
    redis.start()
    yield redis
    redis.stop()


def telegram_settings(fake: FakeTelegram, **store: object) -> Settings:
    options: dict[str, object] = {"embedded_worker": False} | store
    return Settings(
        _env_file=None,
        lessons_dir=FIXTURE_LESSONS,
        telegram_token=TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_api_url=fake.base_url,
        **options,  # type: ignore[arg-type]
    )


async def outbox_rows(runtime: Runtime) -> int:
    async with runtime.database.unit_of_work() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def post(app: Served, update_id: int, words: str) -> httpx.Response:
    update = updates.text_message(update_id, CHAT, words)
    return await app.http.post("/webhook/telegram", json=update, headers=HEADERS)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"detail": UNAVAILABLE}
    assert response.headers["x-content-type-options"] == "nosniff"  # still the app's answer


async def test_while_redis_restarts_updates_get_503_and_each_is_applied_once_after(
    own_redis: OwnRedis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The learner's lock lives in Redis: without it no turn may run. Telegram is told to come
    back (503, Retry-After) instead of a 500 with a traceback per update; when Redis is back
    (restarted empty), the redelivered update is applied once and its reply queued once."""
    async with FakeTelegram(token=TOKEN) as fake:
        settings = telegram_settings(
            fake,
            sqlite_path=tmp_path / "outage.sqlite3",
            database_url=None,
            redis_url=own_redis.url,
        )
        async with in_process(settings) as app:
            first = await post(app, 1, "/start lang_en")
            assert first.status_code == 200
            assert first.headers[OUTCOME_HEADER] == "turn"
            queued_by_start = await outbox_rows(app.runtime)

            own_redis.stop()
            monkeypatch.setattr(outages, "_said", {})  # nothing said yet in this process
            before = unavailable_count()
            caplog.set_level(logging.WARNING, logger="webhook.app")
            assert_unavailable(await post(app, 2, "/menu"))
            assert_unavailable(await post(app, 2, "/menu"))  # Telegram's redelivery, too soon
            assert_unavailable(await post(app, 3, "/lang"))
            assert unavailable_count() == before + 3
            warnings = [r for r in caplog.records if r.name == "webhook.app"]
            assert len(warnings) == 1, "one line per 10 s, not one per update"
            assert "out of reach" in warnings[0].getMessage()
            assert not [r for r in caplog.records if r.exc_info], "no traceback"
            assert await outbox_rows(app.runtime) == queued_by_start  # nothing left behind

            own_redis.start()
            again = await post(app, 2, "/menu")
            assert again.status_code == 200
            assert again.headers[OUTCOME_HEADER] == "turn"
            queued = await outbox_rows(app.runtime)
            assert queued > queued_by_start
            assert (await post(app, 2, "/menu")).headers[OUTCOME_HEADER] == "duplicate"
            assert await outbox_rows(app.runtime) == queued
            assert (await post(app, 3, "/lang")).headers[OUTCOME_HEADER] == "turn"
            async with app.runtime.database.unit_of_work() as uow:
                applied = await uow.session.scalars(
                    select(ProcessedUpdate.update_id).where(ProcessedUpdate.channel == "telegram")
                )
                assert sorted(applied) == ["1", "2", "3"]


async def test_without_postgresql_requests_get_503_and_the_loops_log_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens where the database should be (a failover, a restart): the webhook and
    the admin API answer 503 with Retry-After, `/readyz` says which service is missing, and
    the background loops (the outbox worker, the admin upkeep, the event webhooks) log a
    warning line, not a traceback."""
    monkeypatch.setattr(outages, "_said", {})  # no loop said it yet in this process
    caplog.set_level(logging.WARNING)
    async with FakeTelegram(token=TOKEN) as fake:
        closed = free_port()
        settings = telegram_settings(
            fake,
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/camtay",
            redis_url=None,
            embedded_worker=True,
        )
        async with in_process(settings) as app:
            before = unavailable_count()
            assert_unavailable(await post(app, 1, "/start"))
            assert unavailable_count() == before + 1
            token = f"{TOKEN_PREFIX}{'0' * 40}"  # well formed: looked up in the database
            report = await app.http.get(
                "/admin/api/v1/reports/progress", headers={"Authorization": f"Bearer {token}"}
            )
            assert_unavailable(report)
            ready = await app.http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["failed"] == ["database"]

            loops = {"bot.worker", "admin.background", "bot.hooks.delivery"}

            def logged() -> set[str]:
                return {r.name for r in caplog.records if "out of reach" in r.getMessage()}

            async with asyncio.timeout(10):
                while not loops <= logged():  # noqa: ASYNC110 -- polling the log
                    await asyncio.sleep(0.05)
    tracebacks = [f"{r.name}: {r.message}" for r in caplog.records if r.exc_info]
    assert tracebacks == []


@pytest.mark.postgres
async def test_a_connection_dropped_in_a_turn_is_out_of_reach(
    postgres_url: str, clock: Clock
) -> None:
    """PostgreSQL restarted in the middle of a unit of work, whose next statement runs through
    SQLAlchemy or on the driver (bot/store/driver.py): what leaves the unit of work (its
    rollback's failure on the dead connection, or the statement's own) counts as out of reach,
    so the webhook answers 503 and the update comes again."""
    database = Database(postgres_url)

    async def a_turn_whose_connection_drops(through: str) -> None:
        async with database.unit_of_work() as uow:
            await uow.open_turn("web", f"dropped-{through}", f"dropped-{through}-1", clock())
            mine = await uow.session.scalar(text("SELECT pg_backend_pid()"))
            async with database.engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": mine})
                await other.commit()
            connection = driver(uow.session)
            assert connection is not None
            if through == "sqlalchemy":
                await uow.session.execute(text("SELECT 1"))
            else:
                await connection.fetch("SELECT 1")

    try:
        for through in ("sqlalchemy", "driver"):
            with pytest.raises(Exception) as caught:  # noqa: PT011 -- whichever it is
                await a_turn_whose_connection_drops(through)
            assert unreachable(caught.value), repr(caught.value)
        async with database.unit_of_work() as uow:  # and the next unit of work works
            assert await uow.session.scalar(text("SELECT 1")) == 1
    finally:
        await database.dispose()


def test_only_out_of_reach_errors_are_out_of_reach() -> None:
    """A bug stays a 500 with its traceback: only failures to reach a service become 503s."""
    lost = ConnectionRefusedError(111, "Connect call failed")
    assert unreachable(lost)
    wrapped = RuntimeError("while sending")
    wrapped.__cause__ = lost
    assert unreachable(wrapped)
    assert not unreachable(ValueError("a bug"))
    assert not unreachable(None)
    duplicate = IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert not unreachable(duplicate)
    dropped = DBAPIError("SELECT 1", {}, Exception("closed"), connection_invalidated=True)
    assert unreachable(dropped)

    def rollback_fails() -> None:  # on the connection the statement before it lost
        try:
            raise lost
        except ConnectionError:
            raise duplicate from None

    with pytest.raises(IntegrityError) as during:
        rollback_fails()
    assert unreachable(during.value)


def test_a_loops_failure_is_one_line_when_out_of_reach_and_a_traceback_otherwise(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a service is out of reach, a loop says so once every OUTAGE_LOG_SECONDS; a bug is
    logged with its traceback every time."""
    log = logging.getLogger("tests.loop")
    lost = ConnectionRefusedError(111, "Connect call failed")
    monkeypatch.setattr(outages, "OUTAGE_LOG_SECONDS", 0.2)
    with caplog.at_level(logging.WARNING, logger="tests.loop"):
        log_failure(log, "cycle failed", lost)
        log_failure(log, "cycle failed", lost)  # the next cycle, soon after: not said again
        log_failure(log, "cycle failed", ValueError("a bug"))
        log_failure(log, "cycle failed", ValueError("a bug"))
        time.sleep(0.25)
        log_failure(log, "cycle failed", lost)
    outage, bug, again, later = caplog.records
    assert (outage.levelno, outage.exc_info) == (logging.WARNING, None)
    assert "out of reach (ConnectionRefusedError" in outage.getMessage()
    for each in (bug, again):
        assert each.levelno == logging.ERROR
        assert each.exc_info is not None
        assert isinstance(each.exc_info[1], ValueError)
    assert (later.levelno, later.exc_info) == (logging.WARNING, None)

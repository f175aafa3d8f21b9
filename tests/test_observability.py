"""Metrics, readiness and request ids, through the real app on SQLite (and Redis when given).

The metrics are process-global, so each test reads /metrics before and after and compares.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from admin.background import measure_outbox
from bot.engine import Catalog
from bot.settings import Settings
from bot.store import Database
from bot.store.migrate import upgrade
from tests.conftest import FIXTURE_LESSONS, REDIS_URL, Clock, connect_redis
from tests.fakes import updates
from tests.fakes.openai import FakeOpenAI
from tests.llm.test_llm import KEY, QUESTION, tutoring
from tests.served import Served, in_process

TOKEN = "123456:TEST-token"
SECRET = "s3cret_token-1"
CHAT = 7001
UNUSED_REDIS = "redis://127.0.0.1:1/0"


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "sqlite_path": tmp_path / "obs.sqlite3",
        "lessons_dir": FIXTURE_LESSONS,
        "database_url": None,
        "redis_url": None,
        # Telegram is configured, but nothing is sent: replies wait in the outbox.
        "telegram_token": TOKEN,
        "telegram_webhook_secret": SECRET,
        "telegram_api_url": "http://127.0.0.1:1",
        "embedded_worker": False,
        "report_refresh_seconds": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with in_process(settings_for(tmp_path)) as each:
        yield each


def value(text: str, name: str, **labels: str) -> float:
    """One sample of the exposition text, 0 when it is not there (yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def metrics(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def telegram(
    http: httpx.AsyncClient, payload: dict[str, Any], secret: str = SECRET
) -> httpx.Response:
    return await http.post(
        "/webhook/telegram", json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
    )


# --- /metrics ---------------------------------------------------------------------------------


async def test_updates_are_counted_by_channel_and_result_and_turns_timed(served: Served) -> None:
    http = served.http
    before = await metrics(http)

    assert (await http.get("/chat")).status_code == 200  # the visitor's cookie
    start = {"id": "msg-000001", "kind": "start"}
    first = await http.post("/chat/api/send", json=start)
    assert first.status_code == 200
    assert first.json()["duplicate"] is False
    assert (await http.post("/chat/api/send", json=start)).json()["duplicate"] is True
    assert (await http.post("/chat/api/send", content=b"{not json")).status_code == 400

    hello = updates.text_message(1001, CHAT, "/start")
    assert (await telegram(http, hello)).json()["outcome"] == "turn"
    assert (await telegram(http, hello)).json()["outcome"] == "duplicate"
    assert (await telegram(http, hello, secret="wrong")).status_code == 401
    edited = updates.edited_message(1002, CHAT, "hello again")
    assert (await telegram(http, edited)).json()["outcome"] == "ignored"

    after = await metrics(http)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    updates_total = "camtay_updates_total"
    for channel in ("web", "telegram"):
        assert grew(updates_total, channel=channel, result="applied") == 1
        assert grew(updates_total, channel=channel, result="duplicate") == 1
        assert grew(updates_total, channel=channel, result="rejected") == 1
        assert grew(updates_total, channel=channel, result="error") == 0
        # Applied and duplicate updates are turns; rejected and ignored ones are not timed.
        assert grew("camtay_turn_seconds_count", channel=channel) == 2
        assert grew("camtay_turn_seconds_sum", channel=channel) > 0
    assert grew(updates_total, channel="telegram", result="ignored") == 1
    assert grew(updates_total, channel="web", result="ignored") == 0
    for name in (
        "camtay_sends_total",
        "camtay_outbox_depth",
        "camtay_lock_wait_seconds",
        "camtay_place_wait_seconds",
        "camtay_model_calls_total",
    ):
        assert any(family.name in name for family in text_string_to_metric_families(after))


async def test_the_upkeep_measures_the_outbox(served: Served) -> None:
    await telegram(served.http, updates.text_message(2001, CHAT + 1, "/start"))
    depth = await measure_outbox(served.runtime)
    # Nothing sends here (no worker): the /start replies wait as pending rows.
    assert depth["pending"] >= 1
    assert depth["held"] == 0
    text = await metrics(served.http)
    assert value(text, "camtay_outbox_depth", status="pending") == depth["pending"]
    assert value(text, "camtay_outbox_depth", status="held") == 0


async def test_model_calls_are_counted_by_kind_and_result(
    tmp_path: Path, demo_catalog: Catalog, clock: Clock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'llm.sqlite3'}"
    upgrade(url)
    database = Database(url)
    results = ("ok", "guardrail_fallback", "rate_limited", "timeout")

    def count(result: str) -> float:
        labels = {"kind": "ask", "result": result}
        return REGISTRY.get_sample_value("camtay_model_calls_total", labels) or 0.0

    start = {result: count(result) for result in results}
    try:
        async with (
            FakeOpenAI(api_key=KEY) as fake,
            tutoring(database, demo_catalog, clock, fake, llm_timeout_seconds=0.3) as model,
        ):
            lan = await model.learner()
            await lan.type(QUESTION["vi"])
            assert await model.jobs.run_once() == 1  # the fake's echo: a good answer
            await lan.type(QUESTION["vi"])
            fake.answer("Gọi ngay 0999 888 777 để được giúp.")  # a number no lesson gives
            assert await model.jobs.run_once() == 1
            await lan.type(QUESTION["vi"])
            fake.fail(429)
            assert await model.jobs.run_once() == 1
            await lan.type(QUESTION["vi"])
            fake.hang(2.0, "too late")
            assert await model.jobs.run_once() == 1
    finally:
        await database.dispose()
    for result in results:
        assert count(result) - start[result] == 1, result


# --- /readyz ----------------------------------------------------------------------------------


async def test_ready_when_the_database_answers(served: Served) -> None:
    response = await served.http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert (await served.http.get("/healthz")).json() == {"status": "ok"}


async def test_not_ready_when_redis_does_not_answer(tmp_path: Path) -> None:
    async with in_process(settings_for(tmp_path, redis_url=UNUSED_REDIS)) as each:
        started = time.monotonic()
        response = await each.http.get("/readyz")
        assert time.monotonic() - started < 3.0  # each check is cut off at 2 s
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["failed"] == ["redis"]
        assert body["checks"]["database"] == "ok"
        # Alive all the same: only readiness depends on Redis.
        assert (await each.http.get("/healthz")).status_code == 200


@pytest.mark.redis
async def test_ready_with_redis_when_it_answers(tmp_path: Path) -> None:
    client = await connect_redis()
    await client.aclose()
    async with in_process(settings_for(tmp_path, redis_url=REDIS_URL)) as each:
        response = await each.http.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ready"}


# --- request ids and logs ---------------------------------------------------------------------


@contextmanager
def logging_to(format: str) -> Iterator[io.StringIO]:
    """The process's logging as `camtay serve` sets it up, into a buffer; undone after."""
    from bot.observability import configure_logging

    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging("json" if format == "json" else "text", "INFO", stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_a_request_id_is_echoed_and_in_every_json_log_line(served: Served) -> None:
    request_id = "edge-7f3a.1_B"
    with logging_to("json") as stream:
        response = await served.http.post(
            "/webhook/telegram",
            content=b"{not an update",
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "X-Request-ID": request_id},
        )
        outside = logging.getLogger("camtay.test")
        outside.info("after the request")
    assert response.status_code == 400
    assert response.headers["X-Request-ID"] == request_id
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    warning = next(line for line in lines if line["message"].startswith("malformed telegram"))
    assert warning["request_id"] == request_id
    assert warning["level"] == "WARNING"
    assert warning["logger"] == "webhook.telegram"
    assert datetime.fromisoformat(warning["time"]).utcoffset() == timedelta(0)
    # Outside a request the id is "-", not the last request's.
    last = next(line for line in lines if line["message"] == "after the request")
    assert last["request_id"] == "-"


async def test_text_logs_carry_the_request_id_too(served: Served) -> None:
    with logging_to("text") as stream:
        await served.http.post(
            "/webhook/telegram",
            content=b"[]",
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "X-Request-ID": "req-42"},
        )
    assert re.search(r"WARNING webhook\.telegram \[req-42\]: malformed", stream.getvalue())


INVALID_IDS = ["", "has spaces", "x" * 65, "new\\line", "ümlaut", "a/b", "<script>"]


async def test_an_invalid_or_missing_request_id_is_replaced(served: Served) -> None:
    seen = set()
    for given in [None, *INVALID_IDS]:
        headers = [(b"X-Request-ID", given.encode())] if given is not None else []
        response = await served.http.get("/healthz", headers=headers)
        assert response.status_code == 200
        echoed = response.headers.get_list("X-Request-ID")
        assert len(echoed) == 1, given
        assert re.fullmatch(r"[0-9a-f]{32}", echoed[0]), given
        seen.add(echoed[0])
    assert len(seen) == 1 + len(INVALID_IDS)  # a fresh one each time


async def test_a_64_character_request_id_is_kept(served: Served) -> None:
    request_id = "A1._-" + "z" * 59
    response = await served.http.get("/readyz", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id

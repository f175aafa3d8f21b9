"""Property-based fuzzing of every webhook route: random bytes, random JSON and mutations of
real payloads, with and without the valid secret or signature.

Whatever arrives, the answer is never a 5xx (a platform would retry it forever), and without
a valid secret nothing about any learner changes. Everything runs in process (ASGI transport)
on one app and one SQLite file; the platforms' APIs point at a closed port, so the few calls
a turn makes in the background fail fast and are only logged.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.settings import Settings
from bot.store.models import (
    ConversationState,
    EventRecord,
    Learner,
    OutboxMessage,
    ProcessedUpdate,
)
from bot.wiring import Runtime, build, migrate_if_embedded
from tests.conftest import FIXTURE_LESSONS
from tests.fakes import updates
from tests.fakes import zalo_bot as zalo_events
from webhook.app import create_app

TELEGRAM_TOKEN = "123456:TEST-token"
TELEGRAM_SECRET = "fuzz_telegram_secret-1"
ZALO_BOT_TOKEN = "4213370001:TEST-zalo-token"
ZALO_BOT_SECRET = "fuzz-zalo-bot-secret-1"
OA_APP_ID = "2553928453557884079"
OA_SECRET_KEY = "fuzz-oa-secret-key"
CLOSED = "http://127.0.0.1:9"
"""Nothing listens on the discard port: background API calls fail at once."""
EXAMPLES = 60

TABLES = (Learner, ConversationState, OutboxMessage, EventRecord, ProcessedUpdate)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
RANDOM_BYTES = st.binary(max_size=2048)


def telegram_payloads() -> list[dict[str, Any]]:
    return [
        updates.text_message(1001, 7001, "/start"),
        updates.text_message(1002, 7001, "xin chào <script>alert(1)</script>"),
        updates.callback_query(1003, 7001, "1:lang:en"),
        updates.my_chat_member(1004, 7001),
        updates.photo_message(1005, 7001),
        updates.group_message(1006, -100123, "hi"),
        updates.edited_message(1007, 7001, "edited"),
    ]


def zalo_bot_payloads() -> list[dict[str, Any]]:
    chat = "6ede9afa66b88fe6d6a9"
    return [
        zalo_events.text_event(chat, "/start"),
        zalo_events.text_event(chat, "<img src=x onerror=alert(1)>"),
        zalo_events.image_event(chat),
        zalo_events.text_event(chat, "1", wrapped=False),
    ]


def zalo_oa_payloads() -> list[dict[str, Any]]:
    def event(name: str, **extra: Any) -> dict[str, Any]:
        who = "follower" if name in ("follow", "unfollow") else "sender"
        return {
            "app_id": OA_APP_ID,
            "user_id_by_app": "979122185046046317",
            "event_name": name,
            "timestamp": str(int(time.time() * 1000)),
            who: {"id": "6142494823000000000"},
            "recipient": {"id": "3662729599332560487"},
            **extra,
        }

    return [
        event("user_send_text", message={"text": "xin chào", "msg_id": "msg0001"}),
        event("follow"),
        event("unfollow"),
        event("user_send_image", message={"msg_id": "msg0002", "attachments": []}),
        event("user_submit_info"),
    ]


def web_payloads() -> list[dict[str, Any]]:
    return [
        {"id": "fuzz-00001", "kind": "start"},
        {"id": "fuzz-00002", "kind": "text", "text": "<script>alert(1)</script>"},
        {"id": "fuzz-00003", "kind": "choice", "key": "1:lang:en"},
        {"id": "fuzz-00004", "kind": "start", "payload": "ref_abc123"},
    ]


@st.composite
def mutated(draw: st.DrawFn, payloads: list[dict[str, Any]]) -> Any:
    """A real payload with one to four random edits: a value replaced, a key dropped or
    added, a list emptied, a type changed."""
    value: Any = copy.deepcopy(draw(st.sampled_from(payloads)))
    for _ in range(draw(st.integers(1, 4))):
        value = _edit(draw, value)
    return value


def _edit(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value, key=str)))
        action = draw(st.sampled_from(["descend", "replace", "drop", "add"]))
        if action == "descend":
            value[key] = _edit(draw, value[key])
        elif action == "replace":
            value[key] = draw(JSON)
        elif action == "drop":
            del value[key]
        else:
            value[draw(st.text(max_size=10))] = draw(JSON)
        return value
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        value[index] = _edit(draw, value[index])
        return value
    return draw(JSON | st.just(value))


def bodies(payloads: list[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """Raw bytes, any JSON document, or a mutated real payload, serialised."""
    as_json = (JSON | mutated(payloads)).map(lambda value: json.dumps(value).encode())
    return st.one_of(RANDOM_BYTES, as_json, as_json)


@dataclass
class Served:
    loop: asyncio.AbstractEventLoop
    runtime: Runtime
    http: httpx.AsyncClient

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def counts(self) -> dict[str, int]:
        async def count() -> dict[str, int]:
            async with self.runtime.database.unit_of_work() as uow:
                return {
                    model.__tablename__: int(
                        await uow.session.scalar(select(func.count()).select_from(model)) or 0
                    )
                    for model in TABLES
                }

        result: dict[str, int] = self.run(count())
        return result

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        response: httpx.Response = self.run(self.http.post(path, content=body, headers=headers))
        return response


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    config = Settings(
        sqlite_path=home / "fuzz.sqlite3",
        lessons_dir=FIXTURE_LESSONS,
        database_url=None,
        redis_url=None,
        embedded_worker=False,
        report_refresh_seconds=0,
        telegram_token=TELEGRAM_TOKEN,
        telegram_webhook_secret=TELEGRAM_SECRET,
        telegram_api_url=CLOSED,
        zalo_bot_token=ZALO_BOT_TOKEN,
        zalo_bot_webhook_secret=ZALO_BOT_SECRET,
        zalo_bot_api_url=CLOSED,
        zalo_oa_app_id=OA_APP_ID,
        zalo_oa_secret_key=OA_SECRET_KEY,
        zalo_oa_app_secret="fuzz-app-secret",
        zalo_oa_refresh_token="fuzz-refresh-0",
        zalo_oa_api_url=CLOSED,
        zalo_oa_oauth_url=CLOSED,
    )
    migrate_if_embedded(config)
    runtime = build(config)
    app = create_app(runtime=runtime)
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    http = loop.run_until_complete(
        _open(stack, app, httpx.ASGITransport(app=app), "http://camtay.test")
    )
    try:
        yield Served(loop, runtime, http)
    finally:
        loop.run_until_complete(stack.aclose())
        loop.run_until_complete(runtime.close())
        loop.close()


async def _open(
    stack: AsyncExitStack, app: Any, transport: httpx.ASGITransport, base: str
) -> httpx.AsyncClient:
    await stack.enter_async_context(app.router.lifespan_context(app))
    return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=base))


def oa_mac(body: bytes) -> str:
    """Zalo's signature over whatever app_id and timestamp the (mutated) body carries."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    fields = event if isinstance(event, dict) else {}
    app_id, stamp = (
        str(fields.get(name, "")) if isinstance(fields.get(name), str | int) else ""
        for name in ("app_id", "timestamp")
    )
    digest = hashlib.sha256(app_id.encode() + body + stamp.encode() + OA_SECRET_KEY.encode())
    return "mac=" + digest.hexdigest()


Headers = Callable[[bytes], dict[str, str]]
ROUTES: dict[str, tuple[str, list[dict[str, Any]], Headers, Headers]] = {
    # name: (path, real payloads, headers with the valid secret, headers with a wrong one)
    "telegram": (
        "/webhook/telegram",
        telegram_payloads(),
        lambda _: {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
        lambda _: {"X-Telegram-Bot-Api-Secret-Token": "wrong_secret"},
    ),
    "zalo_bot": (
        "/webhook/zalo-bot",
        zalo_bot_payloads(),
        lambda _: {"X-Bot-Api-Secret-Token": ZALO_BOT_SECRET},
        lambda _: {"X-Bot-Api-Secret-Token": "wrong-secret-123"},
    ),
    "zalo_oa": (
        "/webhook/zalo-oa",
        zalo_oa_payloads(),
        lambda body: {"X-ZEvent-Signature": oa_mac(body)},
        lambda body: {"X-ZEvent-Signature": "mac=" + hashlib.sha256(body).hexdigest()},
    ),
}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=False,
)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_without_the_secret_nothing_changes_and_nothing_fails(served: Served, route: str) -> None:
    path, payloads, _, wrong = ROUTES[route]

    @FUZZ
    @given(body=bodies(payloads), secret=st.sampled_from(["none", "wrong"]))
    def check(body: bytes, secret: str) -> None:
        before = served.counts()
        headers = {"Content-Type": "application/json"}
        if secret == "wrong":
            headers |= wrong(body)
        response = served.post(path, body, headers)
        assert response.status_code < 500, response.text
        assert response.status_code in (400, 401, 403), (response.status_code, response.text)
        assert served.counts() == before

    check()


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_with_the_secret_bad_payloads_get_a_4xx_or_200_never_a_5xx(
    served: Served, route: str
) -> None:
    path, payloads, valid, _ = ROUTES[route]

    @FUZZ
    @given(body=bodies(payloads))
    def check(body: bytes) -> None:
        headers = {"Content-Type": "application/json"} | valid(body)
        response = served.post(path, body, headers)
        assert response.status_code < 500, response.text

    check()


WEB_CROSS_SITE = st.sampled_from(
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.camtay.test"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
    ]
)


def test_the_web_chat_never_fails_and_refuses_every_cross_site_post(served: Served) -> None:
    payloads = web_payloads()

    @FUZZ
    @given(body=bodies(payloads), cross=WEB_CROSS_SITE, cookie=st.booleans())
    def check(body: bytes, cross: dict[str, str], cookie: bool) -> None:
        before = served.counts()
        headers = {"Content-Type": "application/json"} | cross
        if cookie:
            headers["Cookie"] = "camtay_chat=fuzz-visitor-0001"
        response = served.post("/chat/api/send", body, headers)
        assert response.status_code == 403, (response.status_code, response.text)
        assert served.counts() == before

    check()

    @FUZZ
    @given(body=bodies(payloads))
    def same_site(body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "Origin": "http://camtay.test",
            "Sec-Fetch-Site": "same-origin",
            "Cookie": "camtay_chat=fuzz-visitor-0002",
        }
        response = served.post("/chat/api/send", body, headers)
        assert response.status_code < 500, response.text

    same_site()

"""Zalo OA end to end: signed webhook events in, real httpx calls to a fake OA API out."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from bot.channels.zalo_oa import (
    CREDENTIALS_ROW,
    TokenKeeper,
    ZaloOA,
    ZaloOAClient,
    ZaloOASender,
    month_counter,
    text_input,
)
from bot.engine import Choice, QRReply, TextInput, TextReply
from bot.service import Outgoing, utcnow
from bot.settings import Settings
from bot.store.models import Learner, MediaCache, OutboxMessage
from bot.store.tokens import TokenRepository
from bot.wiring import Runtime, build, migrate_if_embedded
from tests.conftest import FIXTURE_LESSONS
from tests.fakes.zalo_oa import MESSAGE, REFRESH, UPLOAD, Call, FakeZaloOA
from tests.qr_check import assert_qr_png
from webhook.app import create_app

APP_ID = "2553928453557884079"
SECRET_KEY = "oa-secret-key"
APP_SECRET = "app-secret"
FIRST_REFRESH = "refresh-0"
OA = "3662729599332560487"
USER = "6142494823000000000"


def sign(body: bytes, app_id: str = APP_ID, timestamp: str = "", key: str = SECRET_KEY) -> str:
    return (
        "mac="
        + hashlib.sha256(app_id.encode() + body + timestamp.encode() + key.encode()).hexdigest()
    )


def now_ms(shift_seconds: float = 0) -> str:
    return str(int((time.time() + shift_seconds) * 1000))


@dataclass
class Harness:
    fake: FakeZaloOA
    runtime: Runtime
    http: httpx.AsyncClient
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def oa(self) -> ZaloOA:
        channel = self.runtime.channels["zalo_oa"]
        assert isinstance(channel, ZaloOA)
        return channel

    def event(self, name: str, user: str = USER, **extra: Any) -> dict[str, Any]:
        who = "follower" if name in ("follow", "unfollow") else "sender"
        return {"app_id": APP_ID, "user_id_by_app": "979122185046046317", "event_name": name,
                "timestamp": now_ms(), who: {"id": user}, "recipient": {"id": OA},
                **extra}  # fmt: skip

    def text_event(self, text: str, user: str = USER, msg_id: str | None = None) -> dict[str, Any]:
        msg_id = msg_id or f"msg{next(self.ids):020d}"
        return self.event("user_send_text", user, message={"text": text, "msg_id": msg_id})

    async def post(
        self, event: dict[str, Any], *, mac: str | None = None, sign_it: bool = True
    ) -> httpx.Response:
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if sign_it:
            headers["X-ZEvent-Signature"] = mac or sign(body, timestamp=event["timestamp"])
        return await self.http.post("/webhook/zalo-oa", content=body, headers=headers)

    async def say(self, text: str, user: str = USER) -> httpx.Response:
        response = await self.post(self.text_event(text, user))
        await self.flush()
        return response

    async def follow(self, user: str = USER) -> httpx.Response:
        response = await self.post(self.event("follow", user))
        await self.flush()
        return response

    async def press(self, label: str, user: str = USER) -> httpx.Response:
        """Tap a button of the newest message with buttons: Zalo sends its payload as text."""
        buttons = [call.buttons for call in self.fake.sent(ok=True)
                   if call.user_id == user and call.buttons][-1]  # fmt: skip
        payload = next(b["payload"] for b in buttons if b["title"].startswith(label))
        return await self.say(payload, user)

    async def flush(self) -> None:
        while await self.runtime.worker.run_once():
            pass

    def texts(self, user: str = USER) -> list[str]:
        return [call.message["text"] for call in self.fake.sent(ok=True)
                if call.user_id == user and "text" in call.message]  # fmt: skip

    async def statuses(self) -> list[str]:
        async with self.runtime.database.unit_of_work() as uow:
            rows = await uow.session.scalars(
                select(OutboxMessage.status).order_by(OutboxMessage.id)
            )
            return list(rows.all())

    async def learner(self, user: str = USER) -> Learner:
        async with self.runtime.database.unit_of_work() as uow:
            found = await uow.learners.get("zalo_oa", user)
            assert found is not None
            return found

    async def age(self, hours: float, user: str = USER) -> None:
        """Pretend the learner last wrote `hours` ago."""
        async with self.runtime.database.unit_of_work() as uow:
            await uow.session.execute(
                update(Learner)
                .where(Learner.channel == "zalo_oa", Learner.external_id == user)
                .values(last_active_at=utcnow() - timedelta(hours=hours))
            )
            await uow.commit()


def pictures(calls: list[Call]) -> list[Call]:
    return [call for call in calls
            if "elements" in call.message.get("attachment", {}).get("payload", {})]  # fmt: skip


@pytest.fixture
async def oa(tmp_path: Path) -> AsyncIterator[Harness]:
    async with FakeZaloOA(
        app_id=APP_ID, app_secret=APP_SECRET, refresh_token=FIRST_REFRESH
    ) as fake:
        settings = Settings(
            sqlite_path=tmp_path / "oa.sqlite3", lessons_dir=FIXTURE_LESSONS, database_url=None,
            redis_url=None, zalo_oa_app_id=APP_ID, zalo_oa_secret_key=SECRET_KEY,
            zalo_oa_app_secret=APP_SECRET, zalo_oa_refresh_token=FIRST_REFRESH,
            zalo_oa_api_url=fake.base_url, zalo_oa_oauth_url=fake.base_url,
            embedded_worker=False,
        )  # fmt: skip
        migrate_if_embedded(settings)
        runtime = build(settings)
        runtime.worker.base_delay = 0.05
        app = create_app(runtime=runtime)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://camtay.test"
            ) as http,
        ):
            yield Harness(fake, runtime, http)
        await runtime.close()


def test_a_button_payload_is_a_choice_and_anything_else_text() -> None:
    assert text_input("3:open:first") == Choice(key="3:open:first")
    assert text_input("12:next") == Choice(key="12:next")
    assert text_input("c:tip:12") == Choice(key="c:tip:12")  # a volunteer's button
    assert text_input("xin chào") == TextInput(text="xin chào")
    assert text_input("2:00 chiều") == TextInput(text="2:00 chiều")
    assert text_input("1:" + "a" * 80) == TextInput(text="1:" + "a" * 80)


async def test_a_learner_completes_a_lesson_by_pressing_buttons(oa: Harness) -> None:
    assert (await oa.follow()).json() == {"ok": True, "outcome": "turn"}
    welcome = oa.fake.sent()[-1]
    assert [b["type"] for b in welcome.buttons] == ["oa.query.hide"] * 2
    assert welcome.headers["access_token"].startswith("access-")
    for label in ("English", "✅ I agree", "📘 Demo", "📘 Lesson one", "Next", "Done", "Nobody",
                  "A scam"):  # fmt: skip
        response = await oa.press(label)
        assert response.json()["outcome"] == "turn", label
    assert any("You finished «Lesson one»!" in text for text in oa.texts())
    assert all(call.ok for call in oa.fake.calls)
    assert await oa.statuses() == ["sent"] * len(await oa.statuses())
    # The drill's picture was uploaded once; a second learner gets it by attachment_id.
    (upload,) = oa.fake.sent(UPLOAD)
    attachment_id = upload.result["data"]["attachment_id"]
    assert len(pictures(oa.fake.sent())) == 1
    other = USER[:-1] + "1"
    await oa.follow(other)
    for label in ("English", "✅ I agree", "📘 Demo", "📘 Lesson one", "Next", "Done", "Nobody"):
        await oa.press(label, other)
    assert len(oa.fake.sent(UPLOAD)) == 1
    (again,) = pictures(oa.fake.sent())[1:]
    assert again.user_id == other
    assert again.message["attachment"]["payload"]["elements"][0] == {
        "media_type": "image",
        "attachment_id": attachment_id,
    }
    assert len(oa.fake.sent(REFRESH)) == 1  # one token for the whole run


async def test_a_qr_code_is_uploaded_as_a_png_and_sent_with_its_link(oa: Harness) -> None:
    await oa.follow()
    learner = await oa.learner()
    link = "https://zalo.me/s/camtay?ref=Vx7Q2a"
    long_caption = "Mời bạn học cùng. " * 120  # over Zalo's 2,000 characters
    async with oa.runtime.database.unit_of_work() as uow:
        replies = [QRReply(data=link, caption="Mã mời của bạn:"), QRReply(data=link),
                   QRReply(data=link, caption=long_caption)]  # fmt: skip
        await uow.outbox.add(learner, replies, utcnow())
        await uow.commit()
    await oa.flush()
    # Each code is uploaded on its own (never from the media cache), then sent by its id.
    uploads = oa.fake.sent(UPLOAD, ok=True)
    assert len(uploads) == 3
    for upload in uploads:
        assert_qr_png(upload.files["file"], link)
    sent = pictures(oa.fake.sent(ok=True))[-3:]
    for upload, message in zip(uploads, sent, strict=True):
        (element,) = message.message["attachment"]["payload"]["elements"]
        assert element == {"media_type": "image",
                           "attachment_id": upload.result["data"]["attachment_id"]}  # fmt: skip
    assert sent[0].message["text"] == f"Mã mời của bạn:\n{link}"
    assert sent[1].message["text"] == link
    assert "text" not in sent[2].message  # the long caption follows as text, link last
    parts = oa.texts()[-2:]
    assert all(len(part) <= 2000 for part in parts)
    assert " ".join(parts) == f"{long_caption}\n{link}"  # split at a space
    assert await oa.statuses() == ["sent"] * len(await oa.statuses())
    async with oa.runtime.database.unit_of_work() as uow:
        assert not (await uow.session.scalars(select(MediaCache))).all()


async def test_signatures_and_bad_bodies_get_clear_answers(oa: Harness) -> None:
    event = oa.text_event("/start")
    body = json.dumps(event).encode()
    assert (await oa.post(event, sign_it=False)).status_code == 401
    assert (await oa.post(event, mac="mac=" + "0" * 64)).status_code == 401
    wrong_key = sign(body, timestamp=event["timestamp"], key="not-the-key")
    assert (await oa.post(event, mac=wrong_key)).status_code == 401
    stale = oa.text_event("/start") | {"timestamp": now_ms(-11 * 60)}
    assert (await oa.post(stale)).status_code == 401
    other_app = oa.text_event("/start") | {"app_id": "42"}
    mac = sign(json.dumps(other_app).encode(), app_id="42", timestamp=other_app["timestamp"])
    assert (await oa.post(other_app, mac=mac)).status_code == 401
    headers = {"X-ZEvent-Signature": "mac=00", "Content-Type": "application/json"}
    for garbage in (b"", b"{not json", b"[1, 2]", b"\xff\xfe", b'{"event_name": "follow"}'):
        response = await oa.http.post("/webhook/zalo-oa", content=garbage, headers=headers)
        assert response.status_code == 400, garbage
    no_sender = oa.event("user_send_text", message={"text": "hi", "msg_id": "m1"})
    del no_sender["sender"]
    assert (await oa.post(no_sender)).status_code == 400
    huge = b'{"app_id": "1", "x": "' + b"a" * (1024 * 1024) + b'"}'
    response = await oa.http.post("/webhook/zalo-oa", content=huge, headers=headers)
    assert response.status_code == 413
    # A mac without its "mac=" prefix is accepted too (some implementations strip it).
    assert (
        await oa.post(event, mac=sign(body, timestamp=event["timestamp"])[4:])
    ).status_code == 200
    assert not oa.fake.sent()


async def test_the_same_event_three_times_has_one_effect(oa: Harness) -> None:
    event = oa.text_event("/start", msg_id="cb31dff1c39642cc1b83")
    outcomes = [(await oa.post(event)).json()["outcome"] for _ in range(3)]
    await oa.flush()
    assert outcomes == ["turn", "duplicate", "duplicate"]
    assert len(oa.fake.sent()) == 1


async def test_events_we_do_not_handle_are_acknowledged_and_ignored(
    oa: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.channels.zalo_oa")
    for name in ("user_received_message", "user_seen_message", "user_submit_info"):
        response = await oa.post(oa.event(name, message={"msg_ids": ["x"]}))
        assert response.json() == {"ok": True, "outcome": "ignored"}
    assert "ignored" in caplog.text


async def test_media_gets_a_kind_reply(oa: Harness) -> None:
    await oa.say("/start lang_en")
    image = oa.event("user_send_image", message={"msg_id": "img1", "attachments": []})
    assert (await oa.post(image)).json()["outcome"] == "turn"
    await oa.flush()
    assert any("I can only read text and buttons" in text for text in oa.texts())


async def test_unfollow_marks_the_learner_unreachable_and_follow_brings_them_back(
    oa: Harness,
) -> None:
    await oa.follow()
    assert (await oa.post(oa.event("unfollow"))).json()["outcome"] == "unfollowed"
    assert (await oa.learner()).unreachable_at is not None
    # A reply still pending is not sent to someone who left: it is cancelled.
    learner = await oa.learner()
    async with oa.runtime.database.unit_of_work() as uow:
        await uow.outbox.add(learner, [TextReply(text="hi")], utcnow())
        await uow.commit()
    sent = len(oa.fake.sent())
    await oa.flush()
    assert len(oa.fake.sent()) == sent
    assert (await oa.statuses())[-1] == "cancelled"
    await oa.follow()
    assert (await oa.learner()).unreachable_at is None
    assert len(oa.fake.sent()) == sent + 1


async def test_an_invalid_token_is_refreshed_once_and_the_send_retried(oa: Harness) -> None:
    await oa.follow()
    oa.fake.fail(MESSAGE, error=-216)
    await oa.press("English")
    refused, retried = oa.fake.sent()[1:3]
    assert refused.error == -216
    assert retried.ok
    assert retried.headers["access_token"] != refused.headers["access_token"]
    assert len(oa.fake.sent(REFRESH)) == 2
    assert await oa.statuses() == ["sent"] * len(await oa.statuses())
    async with oa.runtime.database.unit_of_work() as uow:
        row = await TokenRepository(uow.session).get(CREDENTIALS_ROW)
    assert row is not None
    assert row.refresh_token == oa.fake.latest_refresh_token
    assert row.access_token == retried.headers["access_token"]


async def test_two_workers_hitting_an_expired_token_refresh_it_once(oa: Harness) -> None:
    """Two senders with their own clients and memory (as two processes) share one lock."""
    runtime, settings = oa.runtime, oa.runtime.settings
    assert settings.zalo_oa_app_secret is not None
    second_client = ZaloOAClient(app_id=APP_ID, app_secret=APP_SECRET,
                                 api_url=oa.fake.base_url, oauth_url=oa.fake.base_url)  # fmt: skip
    keeper = TokenKeeper(second_client, database=runtime.database, locks=runtime.locks,
                         first_refresh_token=FIRST_REFRESH)  # fmt: skip
    second = ZaloOASender(second_client, keeper, database=runtime.database,
                          assets=FIXTURE_LESSONS / "assets")  # fmt: skip
    first = oa.oa.sender
    users = [USER, USER[:-1] + "7"]
    try:
        for user in users:
            await oa.follow(user)  # primes the first sender's token
        await second.tokens.token()  # and the second's, read from the database
        assert len(oa.fake.sent(REFRESH)) == 1
        oa.fake.expire_access_tokens()
        oa.fake.hang(REFRESH, 0.3)  # both senders meet the -216 before the refresh answers
        for user in users:
            await oa.post(oa.text_event("/menu", user))
        ids = [(await oa.learner(user)).id for user in users]
        async with runtime.database.unit_of_work() as uow:
            pending = [await uow.outbox.pending(learner_id) for learner_id in ids]
        messages = [Outgoing.from_row(rows[0]) for rows in pending]
        await asyncio.gather(first.send(messages[0]), second.send(messages[1]))
    finally:
        await second_client.aclose()
    refreshes = oa.fake.sent(REFRESH)
    assert len(refreshes) == 2, [c.result for c in refreshes]
    assert all(call.ok for call in refreshes)
    assert [c.error for c in oa.fake.sent()[-4:]].count(-216) == 2
    assert all(c.ok for c in oa.fake.sent()[-2:])
    assert first.tokens.refreshes + second.tokens.refreshes == 1 + 1  # priming + one renewal
    async with runtime.database.unit_of_work() as uow:
        row = await TokenRepository(uow.session).get(CREDENTIALS_ROW)
    assert row is not None
    assert row.refresh_token == oa.fake.latest_refresh_token
    assert row.refresh_token not in oa.fake.spent_refresh_tokens


async def test_outside_the_48_hour_window_without_quota_a_reply_is_held(oa: Harness) -> None:
    await oa.follow()
    sent = len(oa.fake.sent())
    await oa.post(oa.text_event("/menu"))
    await oa.age(hours=49)
    await oa.flush()
    assert len(oa.fake.sent()) == sent
    assert (await oa.statuses())[-1] == "held"
    async with oa.runtime.database.unit_of_work() as uow:
        row = await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
        held = row.first()
    assert held is not None
    assert "48-hour" in (held.last_error or "")


async def test_a_monthly_quota_of_one_sends_one_proactive_message_then_holds(
    oa: Harness,
) -> None:
    oa.oa.sender.monthly_quota = 1
    await oa.follow()
    sent = len(oa.fake.sent())
    await oa.post(oa.text_event("/menu"))
    await oa.post(oa.text_event("/lang"))
    await oa.age(hours=49)
    await oa.flush()
    statuses = await oa.statuses()
    assert statuses[0] == "sent"
    assert statuses[1:] == ["sent"] + ["held"] * (len(statuses) - 2)
    assert len(oa.fake.sent()) == sent + 1
    async with oa.runtime.database.unit_of_work() as uow:
        assert await TokenRepository(uow.session).counted(month_counter(utcnow())) == 1


async def test_at_most_eight_replies_per_learner_message(oa: Harness) -> None:
    await oa.follow()
    learner = await oa.learner()
    async with oa.runtime.database.unit_of_work() as uow:
        await uow.outbox.add(learner, [TextReply(text=f"{n}") for n in range(9)], utcnow())
        await uow.commit()
    await oa.flush()
    assert await oa.statuses() == ["sent"] * 8 + ["held"] * 2
    await oa.say("/lang")  # writing again opens a new window of eight
    assert (await oa.statuses())[-1] == "sent"


async def test_rate_limits_and_server_errors_map_to_the_neutral_errors(oa: Harness) -> None:
    await oa.follow()
    oa.fake.fail(MESSAGE, status=429, retry_after=0.2)
    await oa.post(oa.text_event("/menu"))
    await oa.flush()
    assert 0 < oa.runtime.worker.paused("zalo_oa") <= 0.2  # the whole OA waits
    assert oa.fake.sent()[-1].status == 429
    await asyncio.sleep(0.25)
    oa.fake.fail(MESSAGE, status=500)
    await oa.flush()
    async with oa.runtime.database.unit_of_work() as uow:
        retried = (await uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == "pending"))).all()  # fmt: skip
    assert retried
    assert "TemporaryFailure" in (retried[0].last_error or "")
    oa.fake.fail(MESSAGE, error=-213)  # the user does not follow the OA (any more)
    for _ in range(40):
        await oa.flush()
        if (await oa.learner()).unreachable_at is not None:
            break
        await asyncio.sleep(0.05)
    assert (await oa.learner()).unreachable_at is not None


async def test_a_hung_api_is_a_temporary_failure(oa: Harness) -> None:
    await oa.follow()
    oa.oa.client.http.timeout = httpx.Timeout(0.2)
    oa.fake.hang(MESSAGE, 2)
    await oa.post(oa.text_event("/menu"))
    await oa.flush()
    async with oa.runtime.database.unit_of_work() as uow:
        row = (await uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == "pending"))).first()  # fmt: skip
    assert row is not None
    assert "TemporaryFailure" in (row.last_error or "")


async def test_the_first_refresh_token_seeds_the_table_and_is_never_reused(oa: Harness) -> None:
    await oa.follow()
    async with oa.runtime.database.unit_of_work() as uow:
        row = await TokenRepository(uow.session).get(CREDENTIALS_ROW)
    assert row is not None
    assert FIRST_REFRESH in oa.fake.spent_refresh_tokens
    assert row.refresh_token != FIRST_REFRESH
    # A new process (fresh memory) uses the stored access token instead of refreshing.
    client = ZaloOAClient(app_id=APP_ID, app_secret=APP_SECRET,
                          api_url=oa.fake.base_url, oauth_url=oa.fake.base_url)  # fmt: skip
    try:
        keeper = TokenKeeper(client, database=oa.runtime.database, locks=oa.runtime.locks,
                             first_refresh_token=FIRST_REFRESH)  # fmt: skip
        assert await keeper.token() == row.access_token
        assert keeper.refreshes == 0
    finally:
        await client.aclose()

"""Zalo Bot end to end: the real httpx client against a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from bot.channels.zalo_bot import (
    MENU_HINT,
    ZaloBot,
    ZaloBotClient,
    ZaloBotSender,
    parse_event,
    poll,
    set_webhook,
)
from bot.engine import ChoicesReply, Option, PictureReply, QRReply, Reply, TextReply
from bot.service import Outgoing, RetryAfter, TemporaryFailure, Unreachable, utcnow
from bot.settings import Settings
from bot.store.models import OutboxMessage
from bot.wiring import Runtime, build, migrate_if_embedded
from tests.conftest import FIXTURE_LESSONS
from tests.fakes import zalo_bot as events
from tests.fakes.zalo_bot import FakeZaloBot
from tests.qr_check import assert_qr_png
from webhook.app import create_app

TOKEN = "4213370001:TEST-zalo-token"
SECRET = "zalo-webhook-secret-1"
PUBLIC_URL = "https://tutor.example"
CHAT = "6ede9afa66b88fe6d6a9"
HEADER = "X-Bot-Api-Secret-Token"


@dataclass
class Harness:
    fake: FakeZaloBot
    runtime: Runtime
    http: httpx.AsyncClient

    @property
    def zalo(self) -> ZaloBot:
        zalo = self.runtime.channels["zalo_bot"]
        assert isinstance(zalo, ZaloBot)
        return zalo

    async def post(self, payload: Any, secret: str | None = SECRET) -> httpx.Response:
        headers = {HEADER: secret} if secret is not None else {}
        return await self.http.post("/webhook/zalo-bot", json=payload, headers=headers)

    async def say(self, text: str, chat: str = CHAT) -> httpx.Response:
        response = await self.post(events.text_event(chat, text))
        assert response.status_code == 200, response.text
        await self.flush()
        return response

    async def flush(self) -> None:
        """Let the worker send what is due."""
        while await self.runtime.worker.run_once():
            pass

    def texts(self, chat: str = CHAT) -> list[str]:
        return [c.params["text"] for c in self.fake.sent("sendMessage", ok=True)
                if c.chat_id == chat]  # fmt: skip


def fast_sender(zalo: ZaloBot, runtime: Runtime, public_url: str | None) -> None:
    """Swap in an unpaced sender: pacing is tested on its own below."""
    zalo.sender = ZaloBotSender(zalo.client, public_url=public_url, per_bot=1000, per_chat=1000)
    runtime.worker.senders["zalo_bot"] = zalo.sender


@pytest.fixture
async def zb(tmp_path: Path) -> AsyncIterator[Harness]:
    async with FakeZaloBot(token=TOKEN) as fake:
        settings = Settings(
            sqlite_path=tmp_path / "zb.sqlite3", lessons_dir=FIXTURE_LESSONS, database_url=None,
            redis_url=None, telegram_token=None, zalo_bot_token=TOKEN,
            zalo_bot_webhook_secret=SECRET, zalo_bot_api_url=fake.base_url,
            public_url=PUBLIC_URL, embedded_worker=False, zalo_oa_app_id=None,
        )  # fmt: skip
        migrate_if_embedded(settings)
        runtime = build(settings)
        runtime.worker.base_delay = 0.05
        harness_zalo = runtime.channels["zalo_bot"]
        assert isinstance(harness_zalo, ZaloBot)
        fast_sender(harness_zalo, runtime, PUBLIC_URL)
        app = create_app(runtime=runtime)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://camtay.test"
            ) as http,
        ):
            yield Harness(fake, runtime, http)
        await runtime.close()


async def learner(runtime: Runtime, chat: str = CHAT) -> tuple[int, bool]:
    """The learner's id and whether they are marked unreachable."""
    async with runtime.database.unit_of_work() as uow:
        found = await uow.learners.get("zalo_bot", chat)
        assert found is not None
        return found.id, found.unreachable_at is not None


async def statuses(runtime: Runtime) -> list[str]:
    async with runtime.database.unit_of_work() as uow:
        return list((await uow.session.scalars(select(OutboxMessage.status))).all())


# --- a whole lesson -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answers",
    [
        ["1", "1", "mot", "bai mot", "1", "xong", "khong ai", "lua dao"],
        [
            "Tiếng Việt",
            "Tôi đồng ý",
            "Một",
            "Bài một",
            "tiep tuc",
            "Xong rồi",
            "Không ai cả",
            "Lừa đảo",
        ],
    ],
    ids=["numbers-and-bare-words", "accented-labels"],
)
async def test_a_learner_completes_a_lesson_by_typing(zb: Harness, answers: list[str]) -> None:
    assert (await zb.say("Xin chào")).json() == {"ok": True, "outcome": "turn"}
    welcome = zb.texts()[-1]
    assert welcome.endswith(f"\n\n1. Tiếng Việt 🇻🇳\n2. English 🇬🇧\n{MENU_HINT}")
    for answer in answers:
        assert (await zb.say(answer)).json()["outcome"] == "turn"
    texts = zb.texts()
    assert any("Bạn đã học xong bài «Bài một»!" in text for text in texts)
    assert not any("gõ số thứ tự" in text for text in texts[2:]), "an answer was not understood"
    # Every menu is numbered, with the hint after it; no text is over Zalo's limit.
    assert any("1. Xong rồi ✅\n2. Tôi bị kẹt 🆘\n3. Xem lại 🔁\n" in text for text in texts)
    assert any("1. Lừa đảo 🚫\n2. An toàn ✅\n3. Không chắc 🤔\n" in text for text in texts)
    assert sum(MENU_HINT in text for text in texts) >= len(answers)
    assert all(1 <= len(text) <= 2000 for text in texts)
    # The drill's picture went by URL under PUBLIC_URL, where the web app serves lesson assets.
    (photo,) = zb.fake.sent("sendPhoto")
    assert photo.chat_id == CHAT
    assert photo.params["photo"] == f"{PUBLIC_URL}/chat/assets/drills/first/judge.vi.png"
    served = await zb.http.get("/chat/assets/drills/first/judge.vi.png")
    assert served.status_code == 200


async def test_a_qr_code_goes_by_a_url_the_web_app_draws(zb: Harness) -> None:
    await zb.say("Xin chào")
    link = "https://zalo.me/s/camtay?ref=Vx7Q2a&lang=vi"
    async with zb.runtime.database.unit_of_work() as uow:
        found = await uow.learners.get("zalo_bot", CHAT)
        assert found is not None
        await uow.outbox.add(found, [QRReply(data=link, caption="Mã mời của bạn:")], utcnow())
        await uow.commit()
    await zb.flush()
    (photo,) = zb.fake.sent("sendPhoto", ok=True)
    assert photo.chat_id == CHAT
    assert photo.params["caption"] == f"Mã mời của bạn:\n{link}"
    url = urlsplit(photo.params["photo"])
    assert f"{url.scheme}://{url.netloc}" == PUBLIC_URL
    assert url.path == "/chat/qr.png"
    assert parse_qs(url.query) == {"data": [link]}
    # What Zalo fetches from that URL is the QR code of the link.
    served = await zb.http.get(f"{url.path}?{url.query}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert_qr_png(served.content, link)


async def test_media_gets_a_kind_reply(zb: Harness) -> None:
    await zb.say("Xin chào")
    await zb.say("1")
    for payload in (events.image_event(CHAT), events.event("message.sticker.received", CHAT),
                    events.event("message.unsupported.received", CHAT)):  # fmt: skip
        assert (await zb.post(payload)).json()["outcome"] == "turn"
        await zb.flush()
        assert "Mình chỉ đọc được chữ" in zb.texts()[-2]


# --- the webhook's answers ------------------------------------------------------------------


async def test_bad_requests_get_clear_answers(zb: Harness) -> None:
    good = events.text_event(CHAT, "Xin chào")
    assert (await zb.post(good, secret=None)).status_code == 401
    assert (await zb.post(good, secret="wrong-secret")).status_code == 401
    assert (await zb.post(good, secret=SECRET + "x")).status_code == 401
    headers = {HEADER: SECRET, "Content-Type": "application/json"}
    garbage = (b"", b"{not json", b"[1, 2]", b'"text"', b"{}", b'{"ok": true}',
               b'{"ok": true, "result": []}', b'{"ok": false, "result": {}}', b"\xff\xfe",
               b'{"event_name": "message.text.received", "message": {"chat": {}}}')  # fmt: skip
    for body in garbage:
        response = await zb.http.post("/webhook/zalo-bot", content=body, headers=headers)
        assert response.status_code == 400, body
    huge = b'{"event_name": "' + b"a" * (1024 * 1024) + b'"}'
    response = await zb.http.post("/webhook/zalo-bot", content=huge, headers=headers)
    assert response.status_code == 413
    await zb.flush()
    assert not zb.fake.sent("sendMessage")


async def test_the_same_event_three_times_has_one_effect(zb: Harness) -> None:
    payload = events.text_event(CHAT, "Xin chào")
    outcomes = [(await zb.post(payload)).json()["outcome"] for _ in range(3)]
    await zb.flush()
    assert outcomes == ["turn", "duplicate", "duplicate"]
    assert len(zb.texts()) == 2  # the nudge and the welcome menu, once
    # An unwrapped body is accepted too, and is the same event.
    assert (await zb.post(payload["result"])).json()["outcome"] == "duplicate"


@pytest.mark.parametrize(
    "payload",
    [events.event("message.location.received", CHAT), {"event_name": "bot.added"},
     events.text_event("group-1", "Xin chào", chat_type="GROUP")],
    ids=["location", "no-message", "group"],
)  # fmt: skip
async def test_events_we_do_not_handle_are_acknowledged_and_ignored(
    zb: Harness, payload: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.channels.zalo_bot")
    response = await zb.post(payload)
    assert response.status_code == 200
    assert response.json()["outcome"] in {"ignored", "group"}
    assert "ignored" in caplog.text
    await zb.flush()
    assert not zb.fake.calls


async def test_not_configured_is_404(tmp_path: Path) -> None:
    settings = Settings(
        sqlite_path=tmp_path / "n.sqlite3", lessons_dir=FIXTURE_LESSONS, database_url=None,
        redis_url=None, telegram_token=None, zalo_bot_token=None, zalo_oa_app_id=None,
        embedded_worker=False,
    )  # fmt: skip
    migrate_if_embedded(settings)
    runtime = build(settings)
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http,
    ):
        response = await http.post(
            "/webhook/zalo-bot", json=events.text_event(CHAT, "hi"), headers={HEADER: SECRET}
        )
    await runtime.close()
    assert response.status_code == 404


# --- sending: errors and pacing -------------------------------------------------------------


async def test_403_marks_the_learner_unreachable_and_stops_sending(zb: Harness) -> None:
    await zb.say("Xin chào")
    zb.fake.fail("sendMessage", 403, description="User has blocked the bot")
    await zb.post(events.text_event(CHAT, "1"))
    await zb.flush()
    assert (await learner(zb.runtime))[1]
    found = await statuses(zb.runtime)
    assert "cancelled" in found
    assert "pending" not in found
    calls = len(zb.fake.calls)
    await zb.flush()
    assert len(zb.fake.calls) == calls  # nothing more is tried
    await zb.say("menu")  # writing again makes them reachable
    assert not (await learner(zb.runtime))[1]


@pytest.mark.parametrize("in_body", [False, True], ids=["http-429", "ok-false-429"])
async def test_429_pauses_the_whole_bot(zb: Harness, in_body: bool) -> None:
    zb.fake.fail("sendMessage", 429, in_body=in_body, retry_after=1)
    # One learner at a time, so the second learner's first try cannot race the 429's answer.
    zb.runtime.worker.concurrency = 1
    await zb.post(events.text_event(CHAT, "Xin chào"))
    await zb.post(events.text_event(CHAT + "2", "Xin chào"))
    stop = asyncio.Event()
    worker = asyncio.create_task(zb.runtime.worker.run(stop, idle=0.1))
    await zb.fake.wait_for("sendMessage", 5, timeout=5)
    stop.set()
    await worker
    refused, *after = zb.fake.sent("sendMessage")
    assert refused.error_code == 429
    assert all(call.at - refused.at >= 1.0 for call in after), "sent before the wait was over"
    assert {call.chat_id for call in after} == {CHAT, CHAT + "2"}


async def test_server_errors_are_retried_then_sent_in_order(zb: Harness) -> None:
    zb.fake.fail("sendMessage", 500, times=2)
    await zb.post(events.text_event(CHAT, "Xin chào"))
    for _ in range(50):
        await zb.flush()
        if len(zb.texts()) >= 2:
            break
        await asyncio.sleep(0.05)
    assert zb.texts()[-1].endswith(MENU_HINT)
    assert len(zb.fake.sent("sendMessage", ok=False)) == 2


async def test_a_message_that_keeps_failing_is_marked_failed(zb: Harness) -> None:
    zb.runtime.worker.max_attempts = 2
    zb.fake.fail("sendMessage", 400, in_body=True, description="invalid params", times=5)
    await zb.post(events.text_event(CHAT, "Xin chào"))
    for _ in range(50):
        await zb.flush()
        await asyncio.sleep(0.05)
        if "failed" in await statuses(zb.runtime):
            break
    async with zb.runtime.database.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert rows[0].status == "failed"
    assert "TemporaryFailure" in (rows[0].last_error or "")


def outgoing(reply: Reply, chat: str = CHAT, number: int = 1) -> Outgoing:
    return Outgoing(id=number, channel="zalo_bot", external_id=chat, reply=reply)


@pytest.mark.parametrize(
    ("status", "in_body", "description", "expected"),
    [
        (429, False, "Too Many Requests", RetryAfter),
        (403, False, "Forbidden", Unreachable),
        (400, True, "User blocked the bot", Unreachable),
        (400, True, "Sending to this user is not allowed", Unreachable),
        (500, False, "Internal Server Error", TemporaryFailure),
        (502, True, "Bad Gateway", TemporaryFailure),
        (400, False, "Bad Request", TemporaryFailure),
    ],
)
async def test_platform_errors_become_neutral_ones(
    status: int, in_body: bool, description: str, expected: type[Exception]
) -> None:
    async with FakeZaloBot(token=TOKEN) as fake:
        client = ZaloBotClient(TOKEN, fake.base_url, timeout=5)
        sender = ZaloBotSender(client, public_url=None, per_bot=1000, per_chat=1000)
        fake.fail("sendMessage", status, in_body=in_body, description=description)
        with pytest.raises(expected) as raised:
            await sender.send(outgoing(TextReply(text="Xin chào")))
        if isinstance(raised.value, RetryAfter):
            assert raised.value.seconds == 5.0  # Zalo named no retry_after: the default
        await client.close()


async def test_a_hung_or_unreachable_api_is_a_temporary_failure() -> None:
    async with FakeZaloBot(token=TOKEN) as fake:
        client = ZaloBotClient(TOKEN, fake.base_url, timeout=0.2)
        sender = ZaloBotSender(client, public_url=None, per_bot=1000, per_chat=1000)
        fake.hang("sendMessage", 5)
        with pytest.raises(TemporaryFailure) as raised:
            await sender.send(outgoing(TextReply(text="Xin chào")))
        assert TOKEN not in str(raised.value)
        await client.close()
    gone = ZaloBotClient(TOKEN, fake.base_url, timeout=1)
    with pytest.raises(TemporaryFailure):
        await ZaloBotSender(gone, public_url=None).send(outgoing(TextReply(text="a")))
    await gone.close()


async def test_rendering_long_text_menus_and_pictures_without_a_public_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeZaloBot(token=TOKEN) as fake:
        client = ZaloBotClient(TOKEN, fake.base_url, timeout=5)
        sender = ZaloBotSender(client, public_url=None, per_bot=1000, per_chat=1000)
        long_text = "\n\n".join(f"Đoạn {n}: " + "chữ " * 200 for n in range(5))
        await sender.send(outgoing(TextReply(text=long_text)))
        parts = [call.params["text"] for call in fake.sent("sendMessage")]
        assert len(parts) > 1
        assert all(len(part) <= 2000 for part in parts)
        assert "\n\n".join(parts) == long_text
        menu = ChoicesReply(text="Chọn?", options=[Option(key="1:a", label="Có"),
                                                   Option(key="1:b", label="Không")])  # fmt: skip
        await sender.send(outgoing(menu))
        assert (
            fake.sent("sendMessage")[-1].params["text"] == f"Chọn?\n\n1. Có\n2. Không\n{MENU_HINT}"
        )
        caplog.set_level(logging.WARNING, logger="bot.channels.zalo_bot")
        for _ in range(2):
            await sender.send(
                outgoing(PictureReply(path="drills/first/judge.vi.png", caption="Xem"))
            )
        assert not fake.sent("sendPhoto")
        assert [c.params["text"] for c in fake.sent("sendMessage")[-2:]] == ["Xem", "Xem"]
        link = "https://zalo.me/s/camtay?ref=Vx7Q2a"
        await sender.send(outgoing(QRReply(data=link, caption="Mã mời:")))
        await sender.send(outgoing(QRReply(data=link)))
        assert not fake.sent("sendPhoto")
        assert [c.params["text"] for c in fake.sent("sendMessage")[-2:]] == [
            f"Mã mời:\n{link}", link]  # fmt: skip
        assert caplog.text.count("PUBLIC_URL is not set") == 1  # warned once
        await client.close()


async def test_sending_is_paced_per_chat() -> None:
    async with FakeZaloBot(token=TOKEN) as fake:
        client = ZaloBotClient(TOKEN, fake.base_url, timeout=5)
        sender = ZaloBotSender(client, public_url=None, per_bot=1000, per_chat=10, burst=2)
        for number in range(5):
            await sender.send(outgoing(TextReply(text=f"tin {number}"), number=number))
        await sender.send(outgoing(TextReply(text="khác"), chat="other"))
        calls = fake.sent("sendMessage")
        await client.close()
    times = [call.at for call in calls if call.chat_id == CHAT]
    # A burst of two at once, then about one every 0.1 s.
    assert times[1] - times[0] < 0.08
    assert times[4] - times[0] >= 0.25
    assert calls[-1].at - times[4] < 0.08, "another chat waited for this one"


# --- polling and webhook registration -------------------------------------------------------


async def test_polling_uses_the_same_path(zb: Harness) -> None:
    first = events.text_event(CHAT, "Xin chào")
    zb.fake.queue_event(first)
    zb.fake.queue_event(first)  # a repeat is applied once
    zb.fake.queue_event(events.text_event(CHAT, "1", wrapped=False))
    task = asyncio.create_task(poll(zb.runtime, long_poll=1, min_delay=0.05))
    await zb.fake.wait_for("sendMessage", 4, timeout=10)
    await zb.fake.wait_for("getUpdates", 4, timeout=10)  # the empty long poll is not an error
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert zb.fake.sent("deleteWebhook")
    assert zb.fake.sent("getUpdates")[0].params == {"timeout": 1}
    assert "Trước khi học, bạn đọc nhanh nhé" in zb.texts()[-1]  # the privacy notice
    assert len(zb.texts()) == 4


async def test_set_webhook_sends_the_url_and_secret(zb: Harness) -> None:
    assert await set_webhook(zb.runtime) == f"{PUBLIC_URL}/webhook/zalo-bot"
    (call,) = zb.fake.sent("setWebhook")
    assert call.params == {"url": f"{PUBLIC_URL}/webhook/zalo-bot", "secret_token": SECRET}
    assert (await zb.zalo.client.get_webhook_info())["url"] == f"{PUBLIC_URL}/webhook/zalo-bot"
    zb.runtime.settings.public_url = None
    with pytest.raises(ValueError, match="PUBLIC_URL"):
        await set_webhook(zb.runtime)


def test_events_parse_wrapped_or_not_and_ids_become_strings() -> None:
    wrapped = events.text_event(CHAT, "Xin chào", mid="2d758cb5e222177a4e35")
    assert parse_event(wrapped) == parse_event(wrapped["result"])
    message = {"chat": {"id": 42}, "message_id": 7, "text": "hi"}
    numeric = parse_event({"event_name": "message.text.received", "message": message})
    assert numeric.message is not None
    assert (numeric.message.chat.id, numeric.message.message_id) == ("42", "7")
    assert numeric.message.chat.chat_type == "PRIVATE"

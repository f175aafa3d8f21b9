"""Telegram end to end: real aiogram HTTP calls against a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiogram.types import InlineKeyboardButton, Message, Update
from sqlalchemy import select

from bot.channels.telegram import Turn, parse, pressed_only
from bot.channels.text import split_text
from bot.engine import QRReply, TextInput, TextReply
from bot.service import utcnow
from bot.settings import Settings
from bot.store.models import MediaCache, OutboxMessage
from bot.wiring import Runtime, build, migrate_if_embedded
from tests.conftest import FIXTURE_LESSONS, ROOT
from tests.fakes import updates
from tests.fakes.telegram import Call, FakeTelegram
from tests.qr_check import assert_qr_png
from webhook.app import create_app
from webhook.telegram import OUTCOME_HEADER

TOKEN = "123456:TEST-token"
SECRET = "s3cret_token-1"
CHAT = 7001


@dataclass
class Harness:
    fake: FakeTelegram
    runtime: Runtime
    http: httpx.AsyncClient
    next_update: int = 1000

    async def post(
        self, payload: dict[str, Any], secret: str | None = SECRET, *, relay: bool = True
    ) -> httpx.Response:
        """Deliver an update as Telegram does, and (`relay`) make the call its response names."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        response = await self.http.post("/webhook/telegram", json=payload, headers=headers)
        if relay and response.status_code == 200:
            await self.fake.call_from_webhook_answer(response.json())
        return response

    def update_id(self) -> int:
        self.next_update += 1
        return self.next_update

    async def say(self, text: str, chat: int = CHAT) -> httpx.Response:
        response = await self.post(updates.text_message(self.update_id(), chat, text))
        await self.flush()
        return response

    async def start(self, chat: int = CHAT) -> httpx.Response:
        """/start in English, and "I agree" to the privacy notice."""
        await self.say("/start lang_en", chat=chat)
        return await self.press("✅", chat=chat)

    async def press(self, label: str, chat: int = CHAT) -> httpx.Response:
        """Press a button of the newest keyboard sent to `chat`, as the Telegram app would."""
        message = self.keyboards(chat)[-1]
        rows = message.params["reply_markup"]["inline_keyboard"]
        buttons = [(b["text"], b["callback_data"]) for row in rows for b in row]
        data = next(data for text, data in buttons if text.startswith(label))
        payload = updates.callback_query(self.update_id(), chat, data, buttons=buttons,
                                         message_id=message.result["message_id"],
                                         message_text=message.params["text"])  # fmt: skip
        response = await self.post(payload)
        await self.flush()
        return response

    async def flush(self) -> None:
        """Let the worker send what is due, and the best-effort calls finish."""
        while await self.runtime.worker.run_once():
            pass
        assert self.runtime.telegram is not None
        await self.runtime.telegram.channel.drain()

    def texts(self, chat: int = CHAT) -> list[str]:
        return [c.params["text"] for c in self.fake.sent("sendMessage", ok=True)
                if c.chat_id == chat]  # fmt: skip

    def keyboards(self, chat: int = CHAT) -> list[Call]:
        return [c for c in self.fake.sent("sendMessage", ok=True)
                if c.chat_id == chat and "reply_markup" in c.params]  # fmt: skip


@pytest.fixture
async def tg(tmp_path: Path) -> AsyncIterator[Harness]:
    async with FakeTelegram(token=TOKEN) as fake:
        settings = Settings(
            sqlite_path=tmp_path / "tg.sqlite3", lessons_dir=FIXTURE_LESSONS, database_url=None,
            redis_url=None, telegram_token=TOKEN, telegram_webhook_secret=SECRET,
            telegram_api_url=fake.base_url, embedded_worker=False,
            telegram_per_bot_rate=1000, telegram_per_chat_rate=1000,
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


async def learner_id(runtime: Runtime, chat: int = CHAT) -> int:
    async with runtime.database.unit_of_work() as uow:
        found = await uow.learners.get("telegram", str(chat))
        assert found is not None
        return found.id


async def unreachable(runtime: Runtime, chat: int = CHAT) -> bool:
    async with runtime.database.unit_of_work() as uow:
        found = await uow.learners.get("telegram", str(chat))
        assert found is not None
        return found.unreachable_at is not None


async def test_a_learner_completes_a_lesson_by_pressing_buttons(tg: Harness) -> None:
    assert (await tg.say("/start lang_en")).json()["outcome"] == "turn"
    assert "Before we start, a quick read" in tg.texts()[-1]
    await tg.press("✅ I agree")
    assert "Which topic would you like?" in tg.texts()[-1]
    for label in ("📘 Demo", "📘 Lesson one", "Next", "Done", "Nobody", "A scam"):
        response = await tg.press(label)
        assert response.status_code == 200
    assert any("You finished «Lesson one»!" in text for text in tg.texts())
    # Every button press was answered, and its keyboard replaced by the choice made.
    assert len(tg.fake.sent("answerCallbackQuery")) == 7
    edits = tg.fake.sent("editMessageReplyMarkup")
    assert [e.params["reply_markup"]["inline_keyboard"][0][0]["text"] for e in edits][:3] == [
        "✔ ✅ I agree", "✔ 📘 Demo · 0/2", "✔ 📘 Lesson one"]  # fmt: skip
    # The drill's phone-screen picture was uploaded once, then sent by file_id from the cache.
    (photo,) = tg.fake.sent("sendPhoto")
    assert "photo" in photo.files
    await tg.start(chat=CHAT + 1)
    for label in ("📘 Demo", "📘 Lesson one", "Next", "Done", "Nobody"):
        await tg.press(label, chat=CHAT + 1)
    second = tg.fake.sent("sendPhoto")[-1]
    assert second.chat_id == CHAT + 1
    assert not second.files
    assert second.params["photo"] == photo.result["photo"][-1]["file_id"]


async def queue(runtime: Runtime, *replies: QRReply | TextReply, chat: int = CHAT) -> None:
    """Put replies in a learner's outbox, as a volunteer's action would."""
    async with runtime.database.unit_of_work() as uow:
        learner = await uow.learners.get("telegram", str(chat))
        assert learner is not None
        await uow.outbox.add(learner, list(replies), utcnow())
        await uow.commit()


async def test_a_qr_code_is_uploaded_as_a_png_with_its_link_under_the_caption(
    tg: Harness,
) -> None:
    await tg.say("/start lang_en")
    link = "https://t.me/camtay_test_bot?start=ref_Vx7Q2a"
    await queue(tg.runtime, QRReply(data=link, caption="Your invitation link:"))
    await queue(tg.runtime, QRReply(data=link))
    await tg.flush()
    first, second = tg.fake.sent("sendPhoto", ok=True)
    assert first.params["caption"] == f"Your invitation link:\n{link}"
    assert second.params["caption"] == link
    for call in (first, second):
        assert call.filenames["photo"] == "qr.png"
        assert_qr_png(call.files["photo"], link)  # uploaded each time, never by a cached id
    async with tg.runtime.database.unit_of_work() as uow:
        assert not (await uow.session.scalars(select(MediaCache))).all()


async def test_a_qr_code_caption_over_telegrams_limit_follows_as_text(tg: Harness) -> None:
    await tg.say("/start lang_en")
    link = "https://tutor.example/chat?ref=Vx7Q2a"
    caption = "Mời bạn học cùng 🙂 " * 60  # over 1,024 UTF-16 units with the link
    await queue(tg.runtime, QRReply(data=link, caption=caption))
    await tg.flush()
    (photo,) = tg.fake.sent("sendPhoto", ok=True)
    assert photo.params["caption"] == link
    assert_qr_png(photo.files["photo"], link)
    assert tg.texts()[-1] == caption
    assert tg.fake.sent("sendMessage")[-1].at >= photo.at


async def test_pressing_the_chosen_button_again_changes_nothing(tg: Harness) -> None:
    await tg.start()
    await tg.press("📘 Demo")
    sent = len(tg.texts())
    payload = updates.callback_query(tg.update_id(), CHAT, "-", buttons=[("✔ 📘 Demo", "-")])
    assert (await tg.post(payload)).headers[OUTCOME_HEADER] == "ignored"
    await tg.flush()
    assert len(tg.texts()) == sent
    assert len(tg.fake.sent("answerCallbackQuery")) == 3  # the spinner still stops
    assert len(tg.fake.sent("editMessageReplyMarkup")) == 2  # not to "✔ ✔ 📘 Demo"


async def test_a_button_press_is_answered_in_the_webhooks_own_response(tg: Harness) -> None:
    await tg.start()
    sent = len(tg.fake.calls)
    message = tg.keyboards()[-1]
    button = message.params["reply_markup"]["inline_keyboard"][0][0]
    payload = updates.callback_query(tg.update_id(), CHAT, button["callback_data"],
                                     buttons=[(button["text"], button["callback_data"])],
                                     message_id=message.result["message_id"],
                                     query_id="q-42")  # fmt: skip
    response = await tg.post(payload, relay=False)
    assert response.status_code == 200
    # Telegram makes this call itself: no request of ours answers the press.
    assert response.json() == {"method": "answerCallbackQuery", "callback_query_id": "q-42"}
    assert response.headers[OUTCOME_HEADER] == "turn"
    await tg.flush()
    made = [call.method for call in tg.fake.calls[sent:]]
    assert "answerCallbackQuery" not in made
    assert "editMessageReplyMarkup" in made  # the chosen button is still shown
    assert "sendMessage" in made
    # A second delivery of the press is answered again, and applied once.
    again = await tg.post(payload, relay=False)
    assert again.json()["callback_query_id"] == "q-42"
    assert again.headers[OUTCOME_HEADER] == "duplicate"


async def test_a_keyboard_edit_that_fails_is_logged_and_the_press_still_counts(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await tg.start()
    tg.fake.fail("editMessageReplyMarkup", 400, description="Bad Request: message is not modified")
    before = len(tg.texts())
    with caplog.at_level(logging.INFO, logger="bot.channels.telegram"):
        await tg.press("📘 Demo")
    assert "editMessageReplyMarkup failed: Telegram server says - Bad Request: message is not " \
        "modified" in caplog.text  # fmt: skip
    assert len(tg.texts()) > before  # the press was applied all the same
    await tg.press("📘 Lesson one")
    # The next edit is made; its answer (the edited Message) is not read.
    edit = tg.fake.sent("editMessageReplyMarkup", ok=True)[-1]
    assert edit.params["reply_markup"]["inline_keyboard"] == [
        [{"text": "✔ 📘 Lesson one", "callback_data": "-"}]
    ]


async def test_a_button_press_by_long_polling_is_answered_with_a_call(tg: Harness) -> None:
    from bot.channels.telegram_poll import poll

    await tg.start()
    answered = len(tg.fake.sent("answerCallbackQuery"))
    message = tg.keyboards()[-1]
    button = message.params["reply_markup"]["inline_keyboard"][0][0]
    tg.fake.queue_update(updates.callback_query(
        9001, CHAT, button["callback_data"], buttons=[(button["text"], button["callback_data"])],
        message_id=message.result["message_id"], query_id="q-poll"))  # fmt: skip
    task = asyncio.create_task(poll(tg.runtime, ["callback_query"], long_poll=1))
    await tg.fake.wait_for("answerCallbackQuery", answered + 1, timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tg.fake.sent("answerCallbackQuery")[-1].params["callback_query_id"] == "q-poll"


async def test_the_same_update_three_times_has_one_effect(tg: Harness) -> None:
    payload = updates.text_message(tg.update_id(), CHAT, "/start")
    outcomes = [(await tg.post(payload)).headers[OUTCOME_HEADER] for _ in range(3)]
    await tg.flush()
    assert outcomes == ["turn", "duplicate", "duplicate"]
    assert len(tg.texts()) == 1


async def test_concurrent_updates_for_one_chat_end_as_sequential_ones(tg: Harness) -> None:
    await tg.start()
    await tg.start(chat=CHAT + 5)
    script = ["/lang", "hello", "/menu", "/lang"] * 5
    first = tg.next_update
    await asyncio.gather(*(tg.post(updates.text_message(first + n, CHAT, text))
                           for n, text in enumerate(script, 1)))  # fmt: skip
    tg.next_update += len(script)
    for text in script:
        await tg.post(updates.text_message(tg.update_id(), CHAT + 5, text))
    ids = [await learner_id(tg.runtime), await learner_id(tg.runtime, CHAT + 5)]
    async with tg.runtime.database.unit_of_work() as uow:
        together = await uow.states.load(ids[0])
        one_by_one = await uow.states.load(ids[1])
    assert together == one_by_one


async def test_bad_requests_get_clear_answers(tg: Harness) -> None:
    good = updates.text_message(tg.update_id(), CHAT, "/start")
    assert (await tg.post(good, secret=None)).status_code == 401
    assert (await tg.post(good, secret="wrong")).status_code == 401
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    for body in (b"", b"{not json", b"[1, 2]", b'{"update_id": "x"}', b"\xff\xfe"):
        response = await tg.http.post("/webhook/telegram", content=body, headers=headers)
        assert response.status_code == 400, body
    huge = b'{"update_id": 1, "message": "' + b"a" * (1024 * 1024) + b'"}'
    assert (
        await tg.http.post("/webhook/telegram", content=huge, headers=headers)
    ).status_code == 413
    assert not tg.fake.sent("sendMessage")


@pytest.mark.parametrize(
    "payload",
    [updates.edited_message(1, CHAT, "sửa"), updates.channel_post(2), {"update_id": 3}],
    ids=["edited_message", "channel_post", "empty"],
)  # fmt: skip
async def test_updates_we_do_not_handle_are_acknowledged_and_ignored(
    tg: Harness, payload: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.channels.telegram")
    response = await tg.post(payload)
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert "ignored" in caplog.text


@pytest.mark.parametrize(
    "builder",
    [updates.photo_message, updates.sticker_message, updates.voice_message,
     updates.document_message],
)  # fmt: skip
async def test_media_gets_a_kind_reply(tg: Harness, builder: Any) -> None:
    await tg.say("/start lang_en")
    await tg.post(builder(tg.update_id(), CHAT))
    await tg.flush()
    assert "I can only read text and buttons" in tg.texts()[-2]


async def test_group_chats_get_a_note_about_private_chats(tg: Harness) -> None:
    response = await tg.post(updates.group_message(tg.update_id(), -100200, "/start"))
    await tg.flush()
    assert response.json()["outcome"] == "group"
    (note,) = tg.fake.sent("sendMessage")
    assert note.chat_id == -100200
    assert "private" in note.params["text"]


async def test_blocking_and_unblocking_the_bot_is_recorded(tg: Harness) -> None:
    await tg.say("/start")
    await tg.post(updates.my_chat_member(tg.update_id(), CHAT, new_status="kicked"))
    assert await unreachable(tg.runtime)
    await tg.post(updates.my_chat_member(tg.update_id(), CHAT, new_status="member"))
    assert not await unreachable(tg.runtime)


async def test_403_marks_the_learner_unreachable_and_stops_sending(tg: Harness) -> None:
    await tg.say("/start lang_en")
    tg.fake.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
    await tg.post(updates.text_message(tg.update_id(), CHAT, "/menu"))
    await tg.flush()
    assert await unreachable(tg.runtime)
    async with tg.runtime.database.unit_of_work() as uow:
        statuses = (await uow.session.scalars(select(OutboxMessage.status))).all()
    assert statuses.count("cancelled") >= 1
    assert "pending" not in statuses
    calls = len(tg.fake.calls)
    await tg.flush()
    assert len(tg.fake.calls) == calls  # nothing more is tried


async def test_429_pauses_the_whole_bot_for_retry_after(tg: Harness) -> None:
    # One learner at a time: a send already in flight when the 429 arrives may still land.
    tg.runtime.worker.concurrency = 1
    tg.fake.fail("sendMessage", status=429, retry_after=1)
    await tg.post(updates.text_message(tg.update_id(), CHAT, "/start"))
    await tg.post(updates.text_message(tg.update_id(), CHAT + 1, "/start"))
    stop = asyncio.Event()
    worker = asyncio.create_task(tg.runtime.worker.run(stop, idle=0.1))
    await tg.fake.wait_for("sendMessage", 3, timeout=5)
    stop.set()
    await worker
    refused, *after = tg.fake.sent("sendMessage")
    assert refused.error_code == 429
    assert all(call.at - refused.at >= 1.0 for call in after), "sent before retry_after"
    assert {call.chat_id for call in after} == {CHAT, CHAT + 1}


async def test_server_errors_are_retried_then_sent_in_order(tg: Harness) -> None:
    await tg.say("/start lang_en")
    tg.fake.fail("sendMessage", status=500, times=2)
    await tg.post(updates.text_message(tg.update_id(), CHAT, "/menu"))
    for _ in range(50):
        await tg.flush()
        if len(tg.texts()) >= 4:
            break
        await asyncio.sleep(0.05)
    assert "Which topic would you like?" in tg.texts()[-1]
    assert len(tg.fake.sent("sendMessage", ok=False)) == 2


async def test_a_message_that_keeps_failing_is_marked_failed(tg: Harness) -> None:
    tg.runtime.worker.max_attempts = 2
    tg.fake.fail("sendMessage", status=500, times=5)
    await tg.post(updates.text_message(tg.update_id(), CHAT, "/start"))
    for _ in range(50):
        await tg.flush()
        await asyncio.sleep(0.05)
        async with tg.runtime.database.unit_of_work() as uow:
            if await uow.outbox.count("failed"):
                break
    async with tg.runtime.database.unit_of_work() as uow:
        (row,) = (await uow.session.scalars(select(OutboxMessage))).all()
    assert row.status == "failed"
    assert "TemporaryFailure" in (row.last_error or "")


async def test_long_polling_uses_the_same_path(tg: Harness) -> None:
    from bot.channels.telegram_poll import poll

    tg.fake.queue_update(updates.text_message(1, CHAT, "/start lang_en"))
    task = asyncio.create_task(poll(tg.runtime, ["message"], long_poll=1))
    await tg.fake.wait_for("sendMessage", 1, timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "Before we start, a quick read" in tg.texts()[-1]  # the privacy notice
    assert tg.fake.sent("deleteWebhook")


async def test_set_webhook_command(tg: Harness, tmp_path: Path) -> None:
    env = {**os.environ, "CAMTAY_TELEGRAM_TOKEN": TOKEN, "CAMTAY_TELEGRAM_WEBHOOK_SECRET": SECRET,
           "CAMTAY_TELEGRAM_API_URL": tg.fake.base_url, "CAMTAY_PUBLIC_URL": "https://tutor.example",
           "CAMTAY_LESSONS_DIR": str(FIXTURE_LESSONS),
           "CAMTAY_SQLITE_PATH": str(tmp_path / "cli.sqlite3")}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "camtay"), "telegram", "set-webhook", env=env,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    (call,) = tg.fake.sent("setWebhook")
    assert call.params["url"] == "https://tutor.example/webhook/telegram"
    assert call.params["secret_token"] == SECRET
    assert json.loads(json.dumps(call.params["allowed_updates"])) == [
        "message", "callback_query", "my_chat_member"]  # fmt: skip
    assert "https://tutor.example/webhook/telegram" in out.decode()


def test_long_text_is_split_at_paragraphs() -> None:
    text = "\n\n".join(f"Đoạn {n}: " + "chữ " * 300 for n in range(5))
    parts = split_text(text, 4096)
    assert all(len(part) <= 4096 for part in parts)
    assert "\n\n".join(parts) == text
    assert split_text("a" * 5000, 4096) == ["a" * 4096, "a" * 904]


def test_a_press_keeps_only_the_pressed_button_of_its_keyboard() -> None:
    buttons = [(f"📘 Bài {n}", f"lesson:{n}") for n in range(12)]
    press = updates.callback_query(5, 42, "lesson:7", buttons=buttons)
    update = Update.model_validate(pressed_only(copy.deepcopy(press)))
    assert update.callback_query is not None
    message = update.callback_query.message
    assert isinstance(message, Message)
    assert message.reply_markup is not None
    assert message.reply_markup.inline_keyboard == [
        [InlineKeyboardButton(text="📘 Bài 7", callback_data="lesson:7")]
    ]
    # Everything else is as Telegram sent it.
    trimmed = update.model_dump(mode="json", exclude_unset=True, by_alias=True)
    del press["callback_query"]["message"]["reply_markup"]["inline_keyboard"]
    del trimmed["callback_query"]["message"]["reply_markup"]["inline_keyboard"]
    assert trimmed == press
    # A press on a button no longer there (an old keyboard): nothing to show as chosen.
    stale = pressed_only(updates.callback_query(6, 42, "lesson:99", buttons=buttons))
    assert stale["callback_query"]["message"]["reply_markup"] == {"inline_keyboard": []}


@pytest.mark.parametrize(
    "data",
    [
        updates.text_message(7, 42, "/start"),
        {"update_id": 8, "callback_query": {"id": "q", "data": "x", "message": "not a message"}},
        {"update_id": 9, "callback_query": {"id": "q", "message": {"reply_markup": []}}},
        {"update_id": 10, "callback_query": {"message": {"reply_markup": {"inline_keyboard": 3}}}},
        "an update as a string",
        [1, 2],
        None,
    ],
)
def test_anything_else_is_left_as_it_came(data: Any) -> None:
    assert pressed_only(copy.deepcopy(data)) == data


def test_a_forwarded_message_is_one_to_check() -> None:
    payload = updates.text_message(9, 42, "Tai khoan cua ban bi khoa")
    payload["message"]["forward_origin"] = {
        "type": "hidden_user",
        "sender_user_name": "VCB",
        "date": 1_700_000_000,
    }
    parsed = parse(Update.model_validate(payload))
    assert parsed == Turn(42, TextInput(text="/check Tai khoan cua ban bi khoa"))
    plain = parse(Update.model_validate(updates.text_message(10, 42, "Tai khoan cua ban bi khoa")))
    assert plain == Turn(42, TextInput(text="Tai khoan cua ban bi khoa"))


async def test_mydata_arrives_as_a_json_document(tg: Harness) -> None:
    await tg.start()
    await tg.press("📘 Demo")
    await tg.say("/mydata")
    (document,) = tg.fake.sent("sendDocument")
    assert document.chat_id == CHAT
    assert document.params["caption"].startswith("📄 Here is all the data we keep about you")
    data = json.loads(document.files["document"])
    (learner,) = data["tables"]["learners"]
    assert learner["external_id"] == str(CHAT)
    assert learner["consent_version"] == "2026-11-1/learner"
    assert data["tables"]["events"]  # what they did, since they agreed

"""The fake Bot API server, driven by aiogram's real HTTP client and dispatcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
    WebhookInfo,
)

from tests.fakes import updates
from tests.fakes.telegram import FakeTelegram

TOKEN = "123:ABC"
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Tiếp tục", callback_data="next")]]
)


def make_bot(fake: FakeTelegram, token: str = TOKEN, timeout: float = 5.0) -> Bot:
    """A Bot on aiogram's real aiohttp session, pointed at the fake."""
    api = TelegramAPIServer.from_base(fake.base_url)
    return Bot(token, session=AiohttpSession(api=api, timeout=timeout))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(fake)
    yield bot
    await bot.session.close()


async def test_base_url_is_a_local_free_port(fake: FakeTelegram) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert int(fake.base_url.rsplit(":", 1)[1]) > 0


async def test_get_me_returns_the_bot(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert me.is_bot
    assert me.id == 123
    assert me.username == updates.BOT_USERNAME
    User.model_validate(fake.last("getMe").result)


async def test_send_message_records_params_and_echoes_the_keyboard(
    bot: Bot, fake: FakeTelegram
) -> None:
    sent = await bot.send_message(42, "Xin chào!", reply_markup=KEYBOARD)

    call = fake.last("sendMessage")
    assert call.chat_id == 42
    assert call.params["text"] == "Xin chào!"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Tiếp tục", "callback_data": "next"}]]
    }
    assert call.ok
    assert call.error_code is None
    assert sent.text == "Xin chào!"
    assert sent.chat.id == 42
    assert sent.chat.type == "private"
    assert sent.from_user is not None
    assert sent.from_user.id == 123
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == KEYBOARD.model_dump()
    Message.model_validate(call.result)


async def test_free_text_that_looks_like_json_stays_text(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(42, "[1, 2]")
    assert fake.last("sendMessage").params["text"] == "[1, 2]"


async def test_message_ids_increase_per_chat(bot: Bot, fake: FakeTelegram) -> None:
    first = await bot.send_message(42, "một")
    second = await bot.send_message(42, "hai")
    other = await bot.send_message(43, "ba")
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert [call.chat_id for call in fake.sent("sendMessage")] == [42, 42, 43]


async def test_group_chat_ids_give_group_chats(bot: Bot) -> None:
    sent = await bot.send_message(-4001, "Chào cả lớp")
    assert sent.chat.type == "group"


async def test_send_photo_uploads_the_file(bot: Bot, fake: FakeTelegram) -> None:
    picture = b"\x89PNG\r\n\x1a\nfake picture"
    sent = await bot.send_photo(
        42,
        BufferedInputFile(picture, filename="lesson.png"),
        caption="Nút gửi ở đây",
        reply_markup=KEYBOARD,
    )

    call = fake.last("sendPhoto")
    assert call.files == {"photo": picture}
    assert call.filenames == {"photo": "lesson.png"}
    assert call.params["caption"] == "Nút gửi ở đây"
    assert sent.caption == "Nút gửi ở đây"
    assert sent.photo is not None
    assert len(sent.photo) == 2
    assert len({size.file_id for size in sent.photo}) == 2
    assert len({size.file_unique_id for size in sent.photo}) == 2
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == KEYBOARD.model_dump()
    Message.model_validate(call.result)


async def test_send_photo_by_file_id_echoes_it(bot: Bot, fake: FakeTelegram) -> None:
    first = await bot.send_photo(42, BufferedInputFile(b"png", filename="a.png"))
    assert first.photo is not None
    again = await bot.send_photo(42, first.photo[-1].file_id)

    assert fake.last("sendPhoto").files == {}
    assert again.photo is not None
    assert again.photo[-1].file_id == first.photo[-1].file_id


async def test_send_document_returns_a_document_message(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_document(42, BufferedInputFile(b"%PDF", filename="bai.pdf"))
    assert sent.document is not None
    assert sent.document.file_name == "bai.pdf"
    assert fake.last("sendDocument").files == {"document": b"%PDF"}


async def test_answer_callback_query(bot: Bot, fake: FakeTelegram) -> None:
    assert await bot.answer_callback_query("777", text="Đúng rồi!", show_alert=True)
    call = fake.last("answerCallbackQuery")
    assert call.params["callback_query_id"] == "777"
    assert call.params["text"] == "Đúng rồi!"
    assert call.params["show_alert"] == "true"
    assert call.chat_id is None


async def test_edits_return_the_updated_message(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(42, "Câu hỏi", reply_markup=KEYBOARD)

    edited = await bot.edit_message_text(
        text="Câu hỏi (đã trả lời)", chat_id=42, message_id=sent.message_id
    )
    assert isinstance(edited, Message)
    assert edited.text == "Câu hỏi (đã trả lời)"
    assert edited.reply_markup is None
    assert edited.edit_date is not None

    marked = await bot.edit_message_reply_markup(
        chat_id=42, message_id=sent.message_id, reply_markup=KEYBOARD
    )
    assert isinstance(marked, Message)
    assert marked.text == "Câu hỏi (đã trả lời)"
    assert marked.reply_markup is not None
    assert marked.reply_markup.model_dump() == KEYBOARD.model_dump()


async def test_webhook_methods(bot: Bot, fake: FakeTelegram) -> None:
    assert await bot.set_webhook("https://camtay.example/tg", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://camtay.example/tg"
    assert fake.webhook["secret_token"] == "s3cret"
    WebhookInfo.model_validate(fake.last("getWebhookInfo").result)

    with pytest.raises(TelegramConflictError):
        await bot.get_updates()

    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""


async def test_unknown_methods_answer_true(bot: Bot, fake: FakeTelegram) -> None:
    assert await bot.delete_message(42, 1)
    assert fake.last().method == "deleteMessage"


async def test_respond_overrides_the_default(bot: Bot, fake: FakeTelegram) -> None:
    fake.respond("getMe", lambda call: {**fake.bot_user, "first_name": "Khác"})
    assert (await bot.get_me()).first_name == "Khác"


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    bot = make_bot(fake, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()
    finally:
        await bot.session.close()
    assert fake.calls == []


async def test_wrong_token_body_is_telegrams(fake: FakeTelegram) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}/bot1:nope/getMe") as response,
    ):
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }


async def test_retry_after_then_success(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", status=429, retry_after=3)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(42, "một")
    assert caught.value.retry_after == 3
    assert "retry after 3" in caught.value.message

    await bot.send_message(42, "một")
    assert [call.error_code for call in fake.sent("sendMessage")] == [429, None]
    assert len(fake.sent("sendMessage", ok=True)) == 1


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (403, "Forbidden: bot was blocked by the user", TelegramForbiddenError),
        (500, None, TelegramServerError),
        (400, "Bad Request: message is not modified", TelegramBadRequest),
    ],
)
async def test_scripted_errors(
    bot: Bot,
    fake: FakeTelegram,
    status: int,
    description: str | None,
    error: type[Exception],
) -> None:
    fake.fail("sendMessage", status=status, description=description)
    with pytest.raises(error) as caught:
        await bot.send_message(42, "Xin chào")
    if description is not None:
        assert description in str(caught.value)
    assert fake.last("sendMessage").error_code == status


async def test_failures_are_consumed_in_order_per_method(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", status=500)
    fake.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user")

    assert await bot.get_me()  # other methods are unaffected
    with pytest.raises(TelegramServerError):
        await bot.send_message(42, "1")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(42, "2")
    await bot.send_message(42, "3")


async def test_hang_trips_the_client_timeout(fake: FakeTelegram) -> None:
    bot = make_bot(fake, timeout=0.2)
    fake.hang("sendMessage", 30)
    try:
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await bot.send_message(42, "chậm")
        assert fake.last("sendMessage").ok
        # A hang is one call: the next one answers at once.
        await bot.send_message(42, "nhanh")
    finally:
        await bot.session.close()
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 2


async def test_hang_then_answers(bot: Bot, fake: FakeTelegram) -> None:
    fake.hang("sendMessage", 0.3)
    started = time.monotonic()
    await bot.send_message(42, "chậm")
    assert time.monotonic() - started >= 0.3


async def test_wait_for(bot: Bot, fake: FakeTelegram) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(42, "một")
        await bot.send_message(42, "hai")

    task = asyncio.create_task(later())
    calls = await fake.wait_for("sendMessage", 2, timeout=5)
    await task
    assert [call.params["text"] for call in calls] == ["một", "hai"]
    assert calls[0].at <= calls[1].at

    with pytest.raises(TimeoutError, match="2 of 3 sendMessage"):
        await fake.wait_for("sendMessage", 3, timeout=0.1)


async def test_get_updates_honours_offset(bot: Bot, fake: FakeTelegram) -> None:
    for update_id in (10, 11, 12):
        fake.queue_update(updates.text_message(update_id, 42, f"tin {update_id}"))

    got = await bot.get_updates(offset=11)
    assert [update.update_id for update in got] == [11, 12]
    assert got[0].message is not None
    assert got[0].message.text == "tin 11"
    # Unconfirmed updates come back, as on Telegram, until an offset confirms them.
    assert [update.update_id for update in await bot.get_updates()] == [11, 12]
    assert [update.update_id for update in await bot.get_updates(offset=12, limit=5)] == [12]
    assert await bot.get_updates(offset=13) == []
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_get_updates_long_polls(bot: Bot, fake: FakeTelegram) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=30) == []
    assert 0.9 <= time.monotonic() - started < 3

    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for("getUpdates", 2)
    fake.queue_update(updates.text_message(1, 42, "/start"))
    got = await poll
    assert [update.update_id for update in got] == [1]


async def test_dispatcher_polls_the_fake(fake: FakeTelegram) -> None:
    bot = make_bot(fake)
    dp = Dispatcher()
    seen: list[str] = []

    @dp.message()
    async def echo(message: Message) -> None:
        seen.append(message.text or "")
        await message.answer(f"Bạn viết: {message.text}")

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        seen.append(query.data or "")
        await query.answer("OK")

    fake.queue_update(updates.text_message(1, 42, "/start"))
    fake.queue_update(updates.callback_query(2, 42, "next", buttons=[("Tiếp tục", "next")]))
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
    try:
        replies = await fake.wait_for("sendMessage", 1)
        await fake.wait_for("answerCallbackQuery", 1)
    finally:
        await dp.stop_polling()
        await polling  # start_polling closes the bot's session itself
    assert seen == ["/start", "next"]
    assert replies[0].params["text"] == "Bạn viết: /start"


BUILDERS: list[Callable[[], dict[str, Any]]] = [
    lambda: updates.text_message(1, 42, "Xin chào"),
    lambda: updates.text_message(2, 42, "/start lesson-1"),
    lambda: updates.callback_query(3, 42, "b", buttons=[("A", "a"), ("B", "b")]),
    lambda: updates.my_chat_member(4, 42, new_status="kicked"),
    lambda: updates.my_chat_member(5, 42, new_status="member"),
    lambda: updates.edited_message(6, 42, "Xin chào!"),
    lambda: updates.photo_message(7, 42, caption="Màn hình của tôi"),
    lambda: updates.sticker_message(8, 42),
    lambda: updates.voice_message(9, 42),
    lambda: updates.document_message(10, 42),
    lambda: updates.channel_post(11),
    lambda: updates.group_message(12, -4001, "/help"),
]


@pytest.mark.parametrize("build", BUILDERS)
def test_update_builders_validate(build: Callable[[], dict[str, Any]]) -> None:
    payload = build()
    update = Update.model_validate(payload)
    assert update.update_id == payload["update_id"]
    assert update.event_type != "unknown"


def test_command_entity() -> None:
    message = Update.model_validate(updates.text_message(1, 42, "/start lesson-1")).message
    assert message is not None
    assert message.entities is not None
    entity = message.entities[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)
    plain = Update.model_validate(updates.text_message(2, 42, "Xin chào")).message
    assert plain is not None
    assert plain.entities is None


def test_callback_query_carries_its_keyboard() -> None:
    payload = updates.callback_query(
        3, 42, "b", message_id=9, message_text="Chọn:", buttons=[("A", "a"), ("B", "b")]
    )
    query = Update.model_validate(payload).callback_query
    assert query is not None
    assert query.data == "b"
    assert isinstance(query.message, Message)
    assert query.message.message_id == 9
    assert query.message.text == "Chọn:"
    assert query.message.reply_markup is not None
    rows = query.message.reply_markup.inline_keyboard
    assert [(row[0].text, row[0].callback_data) for row in rows] == [("A", "a"), ("B", "b")]


def test_my_chat_member_statuses() -> None:
    blocked = Update.model_validate(updates.my_chat_member(4, 42, "kicked")).my_chat_member
    assert blocked is not None
    assert (blocked.old_chat_member.status, blocked.new_chat_member.status) == (
        "member",
        "kicked",
    )
    back = Update.model_validate(updates.my_chat_member(5, 42, "member")).my_chat_member
    assert back is not None
    assert back.new_chat_member.status == "member"


def test_group_message_needs_a_negative_id() -> None:
    message = Update.model_validate(updates.group_message(1, -4001, "hi")).message
    assert message is not None
    assert message.chat.type == "group"
    with pytest.raises(ValueError, match="negative"):
        updates.group_message(1, 4001, "hi")

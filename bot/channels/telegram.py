"""The Telegram channel: aiogram's typed updates in, inline keyboards and photos out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)

from bot import privacy
from bot.channels.pacing import Pacer
from bot.channels.text import split_text
from bot.engine import (
    Choice,
    ChoicesReply,
    FileReply,
    Input,
    PictureReply,
    QRReply,
    TextInput,
    TextReply,
    Unsupported,
)
from bot.locks import Pace
from bot.qr import qr_png
from bot.service import (
    Inbound,
    Outgoing,
    RetryAfter,
    TemporaryFailure,
    Tutor,
    Unreachable,
)
from bot.store import Database

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
"""In UTF-16 code units, as Telegram counts them."""
MAX_CALLBACK_DATA = 64
CHOSEN = "-"
"""callback_data of the one button left after a choice: pressing it again does nothing."""
GROUP_NOTE = (
    "Cầm Tay chỉ dạy trong tin nhắn riêng. Bạn bấm vào tên bot và chọn «Nhắn tin» nhé.\n"
    "Cầm Tay teaches in private chats only. Tap the bot's name and choose «Message»."
)
MEDIA_KINDS = (
    "photo",
    "sticker",
    "voice",
    "video",
    "video_note",
    "audio",
    "document",
    "animation",
    "location",
    "contact",
    "poll",
    "dice",
)


class EditKeyboard(methods.EditMessageReplyMarkup):
    """editMessageReplyMarkup, its answer left unread: Telegram answers with the whole edited
    Message, which aiogram would build into a dozen objects (about 60 µs on every button press)
    that nothing looks at. Failures still raise, as for any method."""

    __returning__ = Any  # type: ignore[assignment]  # the answer is not read


USED_METHODS: tuple[type[TelegramMethod[Any]], ...] = (
    methods.AnswerCallbackQuery,
    methods.DeleteWebhook,
    EditKeyboard,
    methods.GetMe,
    methods.GetUpdates,
    methods.SendDocument,
    methods.SendMessage,
    methods.SendPhoto,
    methods.SetWebhook,
)
"""The Bot API methods camtay calls."""
_RESPONSES = tuple(Response[method.__returning__] for method in USED_METHODS)  # type: ignore[name-defined]
"""aiogram parses every answer as `Response[T]`, a pydantic generic class that pydantic caches
only weakly: once the garbage collector has freed it, the next call builds it again, schema and
all (about 0.1-0.2 ms, measured as ~5 % of a web process's CPU with py-spy). Holding the
classes of the methods used keeps them built."""


def make_bot(token: str, api_url: str, timeout: float = 30.0) -> Bot:
    """An aiogram Bot talking to `api_url` (Telegram's, a self-hosted Bot API server, a fake)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url), timeout=timeout)
    return Bot(token, session=session)


# --- updates in -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """An update that is a learner's input."""

    chat_id: int
    input: Input
    callback: CallbackQuery | None = None


@dataclass(frozen=True)
class Reachability:
    """A private chat's member update: the learner blocked (False) or unblocked (True) us."""

    chat_id: int
    reachable: bool


@dataclass(frozen=True)
class GroupChat:
    chat_id: int


@dataclass(frozen=True)
class Ignored:
    reason: str


Parsed = Turn | Reachability | GroupChat | Ignored


def _from_message(message: Message) -> Turn | GroupChat:
    if message.chat.type != "private":
        return GroupChat(message.chat.id)
    if message.text is not None:
        if message.forward_origin is not None and not message.text.startswith("/"):
            # A forwarded message is one the learner wants checked, whatever it says.
            return Turn(message.chat.id, TextInput(text=f"/check {message.text}"))
        return Turn(message.chat.id, TextInput(text=message.text))
    kind = next((kind for kind in MEDIA_KINDS if getattr(message, kind, None) is not None), "other")
    return Turn(message.chat.id, Unsupported(what=kind))


def pressed_only(data: Any) -> Any:
    """A webhook's update, before aiogram reads it: a button press keeps only the pressed button
    of its message's keyboard (the one `_acknowledge` shows as chosen).

    Telegram sends the whole keyboard with every press, and aiogram builds an object for each
    button (about 9 µs each: a menu of 15 buttons costs more than the rest of the update). Only
    the pressed one is ever read; the others are dropped unread. An update not shaped as a press
    with a keyboard is left as it is, for aiogram to judge.
    """
    try:
        markup = data["callback_query"]["message"]["reply_markup"]
        rows, pressed = markup["inline_keyboard"], data["callback_query"]["data"]
    except (KeyError, TypeError):  # not a press with a keyboard, or not shaped as one
        return data
    if isinstance(markup, dict) and isinstance(rows, list):
        markup["inline_keyboard"] = [
            [button]
            for row in rows
            if isinstance(row, list)
            for button in row
            if isinstance(button, dict) and button.get("callback_data") == pressed
        ][:1]
    return data


def webhook_answer(update: Update) -> dict[str, Any] | None:
    """The Bot API call to make in the webhook's own response, if any: a button press's answer.

    Telegram makes a call named in a webhook's response itself ("Making requests when getting
    updates"), without a request of ours and without telling us how it went, which the answer
    does not need. The spinner stops when the press has been applied. Every press is answered,
    in groups and on old keyboards too.
    """
    if update.callback_query is None:
        return None
    return {"method": "answerCallbackQuery", "callback_query_id": update.callback_query.id}


def parse(update: Update) -> Parsed:
    """What an update means for the tutor; nothing of Telegram goes further than this."""
    if update.message is not None:
        return _from_message(update.message)
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat if query.message is not None else None
        if chat is not None and chat.type != "private":
            return GroupChat(chat.id)
        chat_id = chat.id if chat is not None else query.from_user.id
        if not query.data or query.data == CHOSEN:
            return Turn(chat_id, Choice(key=CHOSEN), callback=query)
        return Turn(chat_id, Choice(key=query.data[:MAX_CALLBACK_DATA]), callback=query)
    if update.my_chat_member is not None:
        member = update.my_chat_member
        if member.chat.type != "private":
            return Ignored("my_chat_member outside a private chat")
        status = member.new_chat_member.status
        return Reachability(member.chat.id, reachable=status not in ("kicked", "left"))
    kinds = [name for name, value in update if value is not None and name != "update_id"]
    return Ignored(f"unhandled update type {','.join(kinds) or 'empty'}")


Outcome = Literal["turn", "duplicate", "blocked", "unblocked", "group", "ignored"]


class TelegramChannel:
    """Applies Telegram updates through the tutor; the webhook and polling share it."""

    def __init__(
        self,
        bot: Bot,
        tutor: Tutor,
        database: Database,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.bot = bot
        self.tutor = tutor
        self.database = database
        self.on_outbox = on_outbox
        self._effects: set[asyncio.Task[None]] = set()

    async def handle(self, update: Update, *, answered: bool = False) -> Outcome:
        """Apply one update; returns after its effect is committed (or it was a duplicate).

        `answered`: the webhook's response answers a button press (`webhook_answer`), so only
        the pressed keyboard is changed here; without it (polling) the press is answered too.
        """
        parsed = parse(update)
        if isinstance(parsed, Ignored):
            log.info("telegram update %s ignored: %s", update.update_id, parsed.reason)
            return "ignored"
        if isinstance(parsed, Reachability):
            async with self.database.unit_of_work() as uow:
                at = None if parsed.reachable else self.tutor.clock()
                await uow.learners.set_unreachable(CHANNEL, str(parsed.chat_id), at)
                await uow.commit()
            return "unblocked" if parsed.reachable else "blocked"
        if isinstance(parsed, GroupChat):
            self._later(self._group_note(parsed.chat_id))
            return "group"
        if parsed.callback is not None:
            self._later(self._acknowledge(parsed.callback, answer=not answered))
            if isinstance(parsed.input, Choice) and parsed.input.key == CHOSEN:
                return "ignored"
        result = await self.tutor.handle(
            Inbound(
                channel=CHANNEL,
                external_id=str(parsed.chat_id),
                input=parsed.input,
                update_id=str(update.update_id),
            )
        )
        if not result.duplicate:
            self.on_outbox()
        return "duplicate" if result.duplicate else "turn"

    def _later(self, effect: Coroutine[Any, Any, None]) -> None:
        """Run a best-effort call without holding up the webhook's answer."""
        task = asyncio.create_task(effect)
        self._effects.add(task)
        task.add_done_callback(self._effects.discard)

    async def drain(self) -> None:
        """Wait for best-effort calls still running (shutdown, tests)."""
        if self._effects:
            await asyncio.gather(*self._effects, return_exceptions=True)

    async def _acknowledge(self, query: CallbackQuery, *, answer: bool = True) -> None:
        """Stop the button's spinner, and leave only the chosen button on the old message."""
        if answer:
            try:
                await self.bot.answer_callback_query(query.id)
            except TelegramAPIError as error:
                log.info("answerCallbackQuery failed: %s", error)
        message = query.message
        if (
            not isinstance(message, Message)
            or message.reply_markup is None
            or not query.data
            or query.data == CHOSEN  # the chosen button pressed again: it stays as it is
        ):
            return
        label = next(
            (
                button.text
                for row in message.reply_markup.inline_keyboard
                for button in row
                if button.callback_data == query.data
            ),
            None,
        )
        if label is None:
            return
        chosen = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=f"✔ {label}", callback_data=CHOSEN)]]
        )
        try:
            await self.bot(
                EditKeyboard(
                    chat_id=message.chat.id, message_id=message.message_id, reply_markup=chosen
                )
            )
        except TelegramAPIError as error:
            log.info("editMessageReplyMarkup failed: %s", error)

    async def _group_note(self, chat_id: int) -> None:
        try:
            await self.bot.send_message(chat_id, GROUP_NOTE)
        except TelegramAPIError as error:
            log.info("group note not sent: %s", error)


# --- replies out ----------------------------------------------------------------------------


def keyboard(reply: ChoicesReply) -> InlineKeyboardMarkup:
    """One big button per row: easier to hit for shaky hands than a grid."""
    rows = []
    for option in reply.options:
        if len(option.key.encode()) > MAX_CALLBACK_DATA:
            raise ValueError(f"callback_data over {MAX_CALLBACK_DATA} bytes: {option.key!r}")
        rows.append([InlineKeyboardButton(text=option.label, callback_data=option.key)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def caption_fits(caption: str | None) -> bool:
    return caption is None or len(caption.encode("utf-16-le")) // 2 <= MAX_CAPTION


def qr_caption(reply: QRReply) -> str:
    """The caption, then the link on its own line: a learner can tap it instead of scanning."""
    return f"{reply.caption}\n{reply.data}" if reply.caption else reply.data


class TelegramSender:
    """Renders neutral replies as Bot API calls, paced by Telegram's limits."""

    def __init__(
        self,
        bot: Bot,
        *,
        database: Database,
        assets: Path,
        per_bot: float = 30,
        per_chat: float = 1,
        burst: int = 3,
        chats_remembered: int = 10_000,
        pace: Pace | None = None,
    ) -> None:
        self.bot = bot
        self.database = database
        self.assets = assets
        # In one process, aiolimiter's buckets; shared by every worker, a bot.locks.RedisPacer.
        self._pace: Pace = pace or Pacer(per_bot, per_chat, burst, chats_remembered)

    async def send(self, message: Outgoing) -> None:
        chat_id = int(message.external_id)
        try:
            await self._send(chat_id, message, bulk=message.bulk)
        except TelegramRetryAfter as error:
            raise RetryAfter(error.retry_after, str(error)) from error
        except (TelegramForbiddenError, TelegramNotFound) as error:
            raise Unreachable(str(error)) from error
        except TelegramBadRequest as error:
            if "chat not found" in str(error).lower():
                raise Unreachable(str(error)) from error
            raise
        except TelegramAPIError as error:
            raise TemporaryFailure(str(error)) from error

    async def _send(self, chat_id: int, message: Outgoing, *, bulk: bool) -> None:
        # `bulk` (a broadcast, a reminder): paced after the replies waiting to go.
        reply = message.reply
        if isinstance(reply, PictureReply):
            await self._photo(chat_id, reply, bulk=bulk)
            return
        if isinstance(reply, QRReply):
            await self._qr(chat_id, reply, bulk=bulk)
            return
        if isinstance(reply, FileReply):
            await self._file(chat_id, reply, bulk=bulk)
            return
        assert isinstance(reply, TextReply | ChoicesReply)  # noqa: S101 -- the union's rest
        markup = keyboard(reply) if isinstance(reply, ChoicesReply) else None
        await self._text(chat_id, reply.text, markup, bulk=bulk)

    async def _text(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        bulk: bool,
    ) -> None:
        parts = split_text(text, MAX_TEXT)
        for number, part in enumerate(parts, 1):
            await self._pace.wait(chat_id, bulk=bulk)
            await self.bot.send_message(
                chat_id, part, reply_markup=markup if number == len(parts) else None
            )

    async def _photo(self, chat_id: int, reply: PictureReply, *, bulk: bool) -> None:
        # A caption over Telegram's limit would be refused with the photo: it follows as text.
        caption = reply.caption if caption_fits(reply.caption) else None
        async with self.database.unit_of_work() as uow:
            file_id = await uow.media.get(CHANNEL, reply.path)
        await self._pace.wait(chat_id, bulk=bulk)
        if file_id is not None:
            await self.bot.send_photo(chat_id, file_id, caption=caption)
        else:
            sent = await self.bot.send_photo(
                chat_id, FSInputFile(self.assets / reply.path), caption=caption
            )
            if sent.photo:
                async with self.database.unit_of_work() as uow:
                    await uow.media.put(CHANNEL, reply.path, sent.photo[-1].file_id, sent.date)
                    await uow.commit()
        if reply.caption and caption is None:
            await self._text(chat_id, reply.caption, bulk=bulk)

    async def _file(self, chat_id: int, reply: FileReply, *, bulk: bool) -> None:
        """The learner's data as a document, made now from the database (never cached)."""
        content = await privacy.export_bytes(self.database, reply.person, datetime.now(UTC))
        await self._pace.wait(chat_id, bulk=bulk)
        caption = reply.caption if caption_fits(reply.caption) else None
        await self.bot.send_document(
            chat_id, BufferedInputFile(content, filename=reply.name), caption=caption
        )

    async def _qr(self, chat_id: int, reply: QRReply, *, bulk: bool) -> None:
        # Uploaded every time, never through the media cache: each code is one person's link,
        # so a cached file_id would hardly ever be reused, and the cache is keyed by lesson
        # picture paths, which a link must never be mistaken for.
        caption = qr_caption(reply)
        long_caption = not caption_fits(caption)
        # Drawing a dense code takes some 20 ms: off the event loop.
        png = await asyncio.to_thread(qr_png, reply.data)
        picture = BufferedInputFile(png, filename="qr.png")
        await self._pace.wait(chat_id, bulk=bulk)
        # The link (at most 300 characters) always fits; a long caption follows as text.
        await self.bot.send_photo(chat_id, picture, caption=reply.data if long_caption else caption)
        if long_caption and reply.caption:
            await self._text(chat_id, reply.caption, bulk=bulk)

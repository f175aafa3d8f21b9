"""Builders for Telegram update payloads, shaped as the Bot API sends them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

BOT_ID = 123
BOT_USERNAME = "camtay_test_bot"
BOT_FIRST_NAME = "Cầm Tay"

Payload = dict[str, Any]


def bot_user(bot_id: int = BOT_ID, username: str = BOT_USERNAME) -> Payload:
    """The bot as a User object, as it appears in `from` and chat-member fields."""
    return {"id": bot_id, "is_bot": True, "first_name": BOT_FIRST_NAME, "username": username}


def user(user_id: int, first_name: str = "Lan", language_code: str = "vi") -> Payload:
    """A human User object."""
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "language_code": language_code,
    }


def private_chat(chat_id: int, first_name: str = "Lan") -> Payload:
    """A private Chat object; Telegram uses the user's id as the chat's id."""
    return {"id": chat_id, "first_name": first_name, "type": "private"}


def file_ids(kind: str, seed: int) -> tuple[str, str]:
    """A (file_id, file_unique_id) pair, distinct per kind and seed."""
    # Real ids are opaque base64-ish strings; a readable suffix keeps test failures legible.
    return f"AgACAgUAAxkBAAI{kind}{seed:06d}AAHfake", f"AQAD{kind}{seed:06d}"


def command_entities(text: str) -> list[Payload]:
    """The bot_command entity Telegram adds when a message starts with a command."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    # Entity offsets and lengths count UTF-16 code units, not Python characters.
    return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]


def _base_message(
    chat_id: int,
    message_id: int,
    first_name: str,
    language_code: str,
    date: int | None,
) -> Payload:
    return {
        "message_id": message_id,
        "from": user(chat_id, first_name, language_code),
        "chat": private_chat(chat_id, first_name),
        "date": int(time.time()) if date is None else date,
    }


def _with_text(message: Payload, text: str) -> Payload:
    message["text"] = text
    if entities := command_entities(text):
        message["entities"] = entities
    return message


def _with_caption(message: Payload, caption: str | None) -> Payload:
    if caption is not None:
        message["caption"] = caption
    return message


def text_message(
    update_id: int,
    chat_id: int,
    text: str,
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    message_id: int | None = None,
    date: int | None = None,
) -> Payload:
    """A private text message; commands get their bot_command entity."""
    base = _base_message(chat_id, message_id or update_id, first_name, language_code, date)
    return {"update_id": update_id, "message": _with_text(base, text)}


def edited_message(
    update_id: int,
    chat_id: int,
    text: str,
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    message_id: int = 1,
    date: int | None = None,
    edit_date: int | None = None,
) -> Payload:
    """A user's edit of an earlier private text message."""
    base = _with_text(_base_message(chat_id, message_id, first_name, language_code, date), text)
    base["edit_date"] = base["date"] + 5 if edit_date is None else edit_date
    return {"update_id": update_id, "edited_message": base}


def callback_query(
    update_id: int,
    chat_id: int,
    data: str,
    message_id: int = 1,
    message_text: str = "Chọn một câu trả lời:",
    buttons: Sequence[tuple[str, str]] | None = None,
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    query_id: str | None = None,
    date: int | None = None,
) -> Payload:
    """A press on an inline button under one of the bot's messages, one button per row."""
    keyboard = [
        [{"text": label, "callback_data": value}] for label, value in buttons or [(data, data)]
    ]
    message: Payload = {
        "message_id": message_id,
        "from": bot_user(),
        "chat": private_chat(chat_id, first_name),
        "date": int(time.time()) - 10 if date is None else date,
        "text": message_text,
        "reply_markup": {"inline_keyboard": keyboard},
    }
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id or f"{abs(chat_id)}{update_id:08d}",
            "from": user(chat_id, first_name, language_code),
            "message": message,
            "chat_instance": f"-{abs(chat_id) * 7919 % 10**18}",
            "data": data,
        },
    }


def my_chat_member(
    update_id: int,
    chat_id: int,
    new_status: Literal["kicked", "member", "left"] = "kicked",
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    old_status: Literal["kicked", "member", "left"] | None = None,
    date: int | None = None,
) -> Payload:
    """The learner blocked ("kicked") or unblocked ("member") the bot in a private chat."""
    old = old_status or ("member" if new_status != "member" else "kicked")

    def member(status: str) -> Payload:
        # A banned member carries until_date; 0 means "forever", which is what blocking is.
        extra: Payload = {"until_date": 0} if status == "kicked" else {}
        return {"user": bot_user(), "status": status, **extra}

    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": private_chat(chat_id, first_name),
            "from": user(chat_id, first_name, language_code),
            "date": int(time.time()) if date is None else date,
            "old_chat_member": member(old),
            "new_chat_member": member(new_status),
        },
    }


def photo_message(
    update_id: int,
    chat_id: int,
    caption: str | None = None,
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    message_id: int | None = None,
    date: int | None = None,
) -> Payload:
    """A private photo (three sizes, as Telegram sends them), optionally captioned."""
    base = _base_message(chat_id, message_id or update_id, first_name, language_code, date)
    sizes = []
    for index, (width, height, size) in enumerate(
        [(90, 68, 1_400), (320, 240, 18_000), (1280, 960, 160_000)]
    ):
        file_id, unique_id = file_ids(f"P{index}", update_id)
        sizes.append(
            {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": width,
                "height": height,
                "file_size": size,
            }
        )
    base["photo"] = sizes
    return {"update_id": update_id, "message": _with_caption(base, caption)}


def sticker_message(
    update_id: int,
    chat_id: int,
    emoji: str = "👍",
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    message_id: int | None = None,
    date: int | None = None,
) -> Payload:
    """A private static sticker."""
    base = _base_message(chat_id, message_id or update_id, first_name, language_code, date)
    file_id, unique_id = file_ids("S", update_id)
    base["sticker"] = {
        "file_id": file_id,
        "file_unique_id": unique_id,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "HotCherry",
        "file_size": 24_000,
    }
    return {"update_id": update_id, "message": base}


def voice_message(
    update_id: int,
    chat_id: int,
    duration: int = 3,
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    message_id: int | None = None,
    date: int | None = None,
) -> Payload:
    """A private voice note."""
    base = _base_message(chat_id, message_id or update_id, first_name, language_code, date)
    file_id, unique_id = file_ids("V", update_id)
    base["voice"] = {
        "file_id": file_id,
        "file_unique_id": unique_id,
        "duration": duration,
        "mime_type": "audio/ogg",
        "file_size": 4_000 * duration,
    }
    return {"update_id": update_id, "message": base}


def document_message(
    update_id: int,
    chat_id: int,
    file_name: str = "bai-tap.pdf",
    mime_type: str = "application/pdf",
    caption: str | None = None,
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    message_id: int | None = None,
    date: int | None = None,
) -> Payload:
    """A private document upload."""
    base = _base_message(chat_id, message_id or update_id, first_name, language_code, date)
    file_id, unique_id = file_ids("D", update_id)
    base["document"] = {
        "file_id": file_id,
        "file_unique_id": unique_id,
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": 52_000,
    }
    return {"update_id": update_id, "message": _with_caption(base, caption)}


def channel_post(
    update_id: int,
    chat_id: int = -1001234567890,
    text: str = "Tin mới từ kênh",
    title: str = "Kênh Cầm Tay",
    *,
    message_id: int | None = None,
    date: int | None = None,
) -> Payload:
    """A post in a channel the bot administers; channel posts have sender_chat, not from."""
    chat = {"id": chat_id, "title": title, "type": "channel"}
    post: Payload = {
        "message_id": message_id or update_id,
        "sender_chat": chat,
        "chat": chat,
        "date": int(time.time()) if date is None else date,
    }
    return {"update_id": update_id, "channel_post": _with_text(post, text)}


def group_message(
    update_id: int,
    chat_id: int,
    text: str,
    first_name: str = "Lan",
    language_code: str = "vi",
    *,
    user_id: int = 555_000_111,
    title: str = "Lớp tin học",
    message_id: int | None = None,
    date: int | None = None,
) -> Payload:
    """A text message in a basic group (negative chat id), sent by user_id."""
    if chat_id >= 0:
        raise ValueError(f"group chat ids are negative, got {chat_id}")
    message: Payload = {
        "message_id": message_id or update_id,
        "from": user(user_id, first_name, language_code),
        "chat": {"id": chat_id, "title": title, "type": "group"},
        "date": int(time.time()) if date is None else date,
    }
    return {"update_id": update_id, "message": _with_text(message, text)}

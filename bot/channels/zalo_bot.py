"""The Zalo Bot channel: a thin httpx client, events in, numbered text menus and photo URLs out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bot.channels import web
from bot.channels.pacing import Pacer
from bot.channels.text import split_text
from bot.engine import (
    ChoicesReply,
    FileReply,
    Input,
    PictureReply,
    QRReply,
    TextInput,
    TextReply,
    Unsupported,
)
from bot.outages import log_failure
from bot.service import (
    DeliveryError,
    Inbound,
    Outgoing,
    RetryAfter,
    TemporaryFailure,
    Tutor,
    Unreachable,
)
from bot.settings import Settings
from bot.store import Database

if TYPE_CHECKING:
    from bot.wiring import Runtime

log = logging.getLogger(__name__)

CHANNEL = "zalo_bot"
MAX_TEXT = 2000
MAX_UPDATE_ID = 128
"""The dedup table's column width."""
DEFAULT_RETRY_AFTER = 5.0
"""Zalo documents no retry_after; wait this long after a 429 that names none."""
POLL_TIMEOUT = 30
MENU_HINT = "👉 Gõ số để chọn / Type a number"
PICTURE_FALLBACK = "🖼 (Hình minh hoạ / Picture)"
TEXT_EVENT = "message.text.received"
UNSUPPORTED_EVENTS = {
    "message.image.received": "image",
    "message.sticker.received": "sticker",
    "message.voice.received": "voice",
    "message.unsupported.received": "unsupported",
}
_UNREACHABLE_WORDS = ("blocked", "not allowed", "forbidden", "chat not found", "user not found")


# --- event payloads -------------------------------------------------------------------------

# Ids are strings in the docs' example; accept numbers too, the shapes are partly unconfirmed.
ZaloId = Annotated[str, BeforeValidator(lambda value: str(value) if value is not None else value)]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ZaloUser(_Loose):
    id: ZaloId
    display_name: str | None = None
    is_bot: bool = False


class ZaloChat(_Loose):
    id: ZaloId
    chat_type: str = "PRIVATE"


class ZaloMessage(_Loose):
    sender: ZaloUser | None = Field(default=None, alias="from")
    chat: ZaloChat
    text: str | None = None
    message_id: ZaloId
    date: int | None = None
    """Milliseconds since the epoch."""


class ZaloEvent(_Loose):
    event_name: str
    message: ZaloMessage | None = None


def parse_event(data: Any) -> ZaloEvent:
    """The event in a webhook body or getUpdates answer, wrapped in {ok, result} or not.

    Raises ValueError (pydantic's ValidationError is one) when it is not an event.
    """
    if not isinstance(data, dict):
        raise ValueError("an event is a JSON object")
    if "event_name" not in data and "result" in data:
        if data.get("ok") is False:
            raise ValueError(f"an error, not an event: {data.get('description')!r}")
        data = data["result"]
    return ZaloEvent.model_validate(data)


# --- the API client -------------------------------------------------------------------------


class ZaloBotError(Exception):
    """The Bot API refused a call, or it could not be reached."""

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        error_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        """The HTTP status; None for network errors and timeouts."""
        self.error_code = error_code
        self.retry_after = retry_after

    @property
    def codes(self) -> set[int]:
        return {code for code in (self.status, self.error_code) if code is not None}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def delivery_error(error: ZaloBotError) -> DeliveryError:
    """The platform-neutral error the outbox worker acts on."""
    if HTTPStatus.TOO_MANY_REQUESTS in error.codes:
        return RetryAfter(error.retry_after or DEFAULT_RETRY_AFTER, str(error))
    text = error.description.lower()
    if HTTPStatus.FORBIDDEN in error.codes or any(word in text for word in _UNREACHABLE_WORDS):
        return Unreachable(str(error))
    # Server errors, network errors and other 4xx: retried with backoff, then marked failed.
    return TemporaryFailure(str(error))


class ZaloBotClient:
    """POST JSON to {api_url}/bot{token}/{method}; `result` back, or ZaloBotError."""

    def __init__(self, token: str, api_url: str, timeout: float = 30.0) -> None:
        self._base = f"{api_url.rstrip('/')}/bot{token}"
        self._http = httpx.AsyncClient(timeout=timeout)

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 -- a per-call HTTP timeout, not a deadline
    ) -> Any:
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = await self._http.post(f"{self._base}/{method}", json=params or {}, **extra)
        except httpx.HTTPError as error:
            # Never put the URL in the message: it carries the token.
            raise ZaloBotError(f"{method}: {type(error).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ZaloBotError(
                f"{method}: HTTP {response.status_code}, not a Bot API answer",
                status=response.status_code,
                retry_after=_number(response.headers.get("retry-after")),
            )
        if response.is_success and body.get("ok") is True:
            return body.get("result")
        parameters = body.get("parameters")
        retry_after = _number(body.get("retry_after"))
        if retry_after is None and isinstance(parameters, dict):
            retry_after = _number(parameters.get("retry_after"))
        if retry_after is None:
            retry_after = _number(response.headers.get("retry-after"))
        code = body.get("error_code")
        raise ZaloBotError(
            f"{method}: {body.get('description') or f'HTTP {response.status_code}'}",
            status=response.status_code,
            error_code=code if isinstance(code, int) else None,
            retry_after=retry_after,
        )

    async def get_me(self) -> dict[str, Any]:
        result = await self.call("getMe")
        return result if isinstance(result, dict) else {}

    async def get_updates(self, timeout: int = POLL_TIMEOUT) -> list[ZaloEvent]:  # noqa: ASYNC109
        """Zero or one event (a list too, should the platform ever send several)."""
        try:
            result = await self.call("getUpdates", {"timeout": timeout}, timeout=timeout + 10)
        except ZaloBotError as error:
            # An empty long poll ends as ok:false, error_code 408 "Request timeout".
            if HTTPStatus.REQUEST_TIMEOUT in error.codes:
                return []
            raise
        items = result if isinstance(result, list) else [result] if result else []
        events = []
        for item in items:
            try:
                events.append(parse_event(item))
            except ValueError as error:
                log.warning("zalo bot: malformed event from getUpdates: %s", str(error)[:200])
        return events

    async def set_webhook(self, url: str, secret_token: str) -> Any:
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        return await self.call("deleteWebhook")

    async def get_webhook_info(self) -> Any:
        return await self.call("getWebhookInfo")

    async def send_message(self, chat_id: str, text: str) -> Any:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(self, chat_id: str, photo: str, caption: str | None = None) -> Any:
        params = {"chat_id": chat_id, "photo": photo}
        if caption:
            params["caption"] = caption
        return await self.call("sendPhoto", params)

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> Any:
        return await self.call("sendChatAction", {"chat_id": chat_id, "action": action})

    async def close(self) -> None:
        await self._http.aclose()


# --- events in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    chat_id: str
    input: Input


@dataclass(frozen=True)
class GroupChat:
    chat_id: str


@dataclass(frozen=True)
class Ignored:
    reason: str


Parsed = Turn | GroupChat | Ignored
Outcome = Literal["turn", "duplicate", "group", "ignored"]


def parse(event: ZaloEvent) -> Parsed:
    """What an event means for the tutor; nothing of Zalo goes further than this."""
    message = event.message
    if event.event_name != TEXT_EVENT and event.event_name not in UNSUPPORTED_EVENTS:
        return Ignored(f"unhandled event {event.event_name!r}")
    if message is None:
        return Ignored(f"{event.event_name} without a message")
    if message.chat.chat_type.upper() != "PRIVATE":
        return GroupChat(message.chat.id)
    if event.event_name == TEXT_EVENT:
        return Turn(message.chat.id, TextInput(text=message.text or ""))
    return Turn(message.chat.id, Unsupported(what=UNSUPPORTED_EVENTS[event.event_name]))


def update_id(event: ZaloEvent) -> str | None:
    """The dedup key: Zalo has no update_id, so event name and message id stand in for it."""
    if event.message is None:
        return None
    return f"{event.event_name}:{event.message.message_id}"[:MAX_UPDATE_ID]


class ZaloBotChannel:
    """Applies Zalo Bot events through the tutor; the webhook and polling share it."""

    def __init__(self, tutor: Tutor, on_outbox: Callable[[], None] = lambda: None) -> None:
        self.tutor = tutor
        self.on_outbox = on_outbox

    async def handle(self, event: ZaloEvent) -> Outcome:
        """Apply one event; returns after its effect is committed (or it was a duplicate)."""
        parsed = parse(event)
        if isinstance(parsed, Ignored):
            log.info("zalo bot event ignored: %s", parsed.reason)
            return "ignored"
        if isinstance(parsed, GroupChat):
            # Groups are beta on Zalo Bot and carry no buttons; the tutor is for private chats.
            log.info("zalo bot event from group chat %s ignored", parsed.chat_id)
            return "group"
        result = await self.tutor.handle(
            Inbound(
                channel=CHANNEL,
                external_id=parsed.chat_id,
                input=parsed.input,
                update_id=update_id(event),
            )
        )
        if not result.duplicate:
            self.on_outbox()
        return "duplicate" if result.duplicate else "turn"


# --- replies out ----------------------------------------------------------------------------


def menu_text(reply: ChoicesReply) -> str:
    """Buttons as numbered lines: the engine matches a typed number, number word or label."""
    lines = [f"{number}. {option.label}" for number, option in enumerate(reply.options, 1)]
    menu = "\n".join([*lines, MENU_HINT])
    return f"{reply.text}\n\n{menu}" if reply.text else menu


def asset_url(public_url: str, path: str) -> str:
    """Where the web app serves a lesson picture (webhook/chat.py's /chat/assets)."""
    return f"{public_url.rstrip('/')}/chat/assets/{quote(path)}"


def qr_url(public_url: str, data: str) -> str:
    """Where the web app draws a QR code of `data` (webhook/chat.py's /chat/qr.png)."""
    return f"{public_url.rstrip('/')}{web.qr_url(data)}"


def qr_text(reply: QRReply) -> str:
    """The caption, then the link on its own line: a learner can tap it instead of scanning."""
    return f"{reply.caption}\n{reply.data}" if reply.caption else reply.data


class ZaloBotSender:
    """Renders neutral replies as Bot API calls, paced per chat and per bot."""

    def __init__(
        self,
        client: ZaloBotClient,
        *,
        public_url: str | None,
        per_bot: float = 30,
        per_chat: float = 1,
        burst: int = 3,
        chats_remembered: int = 10_000,
    ) -> None:
        self.client = client
        self.public_url = public_url
        # Zalo publishes no limits; Telegram's (the model for this API) are a cautious guess.
        self._pace = Pacer(per_bot, per_chat, burst, chats_remembered)
        self._warned_no_url = False

    async def send(self, message: Outgoing) -> None:
        try:
            await self._send(message.external_id, message, bulk=message.bulk)
        except ZaloBotError as error:
            raise delivery_error(error) from error

    async def _send(self, chat_id: str, message: Outgoing, *, bulk: bool) -> None:
        # `bulk` (a broadcast, a reminder): paced after the replies waiting to go.
        reply = message.reply
        if isinstance(reply, PictureReply):
            await self._picture(chat_id, reply, bulk=bulk)
            return
        if isinstance(reply, QRReply):
            await self._qr(chat_id, reply, bulk=bulk)
            return
        if isinstance(reply, FileReply):
            # No documents on this platform: the caption carries the download link.
            await self._text(chat_id, reply.caption or reply.url or reply.name, bulk=bulk)
            return
        assert isinstance(reply, TextReply | ChoicesReply)  # noqa: S101 -- the union's rest
        text = menu_text(reply) if isinstance(reply, ChoicesReply) else reply.text
        await self._text(chat_id, text, bulk=bulk)

    async def _text(self, chat_id: str, text: str, *, bulk: bool) -> None:
        for part in split_text(text, MAX_TEXT):
            if part.strip():  # the API refuses empty text
                await self._pace.wait(chat_id, bulk=bulk)
                await self.client.send_message(chat_id, part)

    def _public_url(self) -> str | None:
        """Where pictures are sent from; None (warned once): send them as text instead."""
        if self.public_url is None and not self._warned_no_url:
            self._warned_no_url = True
            log.warning("CAMTAY_PUBLIC_URL is not set: Zalo Bot gets captions, not pictures")
        return self.public_url

    async def _picture(self, chat_id: str, reply: PictureReply, *, bulk: bool) -> None:
        public_url = self._public_url()
        if public_url is None:
            await self._text(chat_id, reply.caption or PICTURE_FALLBACK, bulk=bulk)
            return
        url = asset_url(public_url, reply.path)
        await self._photo(chat_id, url, reply.caption or None, bulk=bulk)

    async def _qr(self, chat_id: str, reply: QRReply, *, bulk: bool) -> None:
        public_url = self._public_url()
        if public_url is None:
            # The link alone still works: a tap opens it on the phone it is meant for.
            await self._text(chat_id, qr_text(reply), bulk=bulk)
            return
        await self._photo(chat_id, qr_url(public_url, reply.data), qr_text(reply), bulk=bulk)

    async def _photo(self, chat_id: str, url: str, caption: str | None, *, bulk: bool) -> None:
        """A photo by URL with its caption; a caption over the text limit follows it."""
        long_caption = caption is not None and len(caption) > MAX_TEXT
        await self._pace.wait(chat_id, bulk=bulk)
        await self.client.send_photo(chat_id, url, None if long_caption else caption)
        if long_caption and caption is not None:
            await self._text(chat_id, caption, bulk=bulk)


# --- wiring, webhook registration and polling -----------------------------------------------


@dataclass
class ZaloBot:
    """The Zalo Bot channel's parts; present only when a bot token is configured."""

    channel: ZaloBotChannel
    sender: ZaloBotSender
    client: ZaloBotClient

    async def close(self) -> None:
        await self.client.close()


def build_zalo_bot(
    settings: Settings, tutor: Tutor, database: Database, notify: Callable[[], None]
) -> ZaloBot:
    """The channel from settings; `database` is unused: photos go by URL, nothing is cached."""
    assert settings.zalo_bot_token is not None  # noqa: S101 -- the caller checked
    client = ZaloBotClient(settings.zalo_bot_token.get_secret_value(), settings.zalo_bot_api_url)
    sender = ZaloBotSender(client, public_url=settings.public_url)
    return ZaloBot(channel=ZaloBotChannel(tutor, on_outbox=notify), sender=sender, client=client)


def zalo_bot_of(runtime: Runtime) -> ZaloBot:
    """The runtime's Zalo Bot channel; ValueError when no token is configured."""
    channel = runtime.channels.get(CHANNEL)
    if not isinstance(channel, ZaloBot):
        raise ValueError("set CAMTAY_ZALO_BOT_TOKEN (from Zalo Bot Manager) first")
    return channel


async def set_webhook(runtime: Runtime) -> str:
    """Point Zalo at PUBLIC_URL/webhook/zalo-bot with the webhook secret; return that URL."""
    zalo = zalo_bot_of(runtime)
    settings = runtime.settings
    if settings.public_url is None or not settings.public_url.startswith("https://"):
        raise ValueError("set CAMTAY_PUBLIC_URL to the https:// address of this server")
    if settings.zalo_bot_webhook_secret is None:
        raise ValueError("set CAMTAY_ZALO_BOT_WEBHOOK_SECRET (8-256 characters)")
    url = f"{settings.public_url.rstrip('/')}/webhook/zalo-bot"
    await zalo.client.set_webhook(url, settings.zalo_bot_webhook_secret.get_secret_value())
    return url


async def _handle_with_retries(
    zalo: ZaloBot, event: ZaloEvent, attempts: int, delay: float
) -> None:
    """Retry here: without an offset, getUpdates never returns an event again."""
    for attempt in range(1, attempts + 1):
        try:
            await zalo.channel.handle(event)
            return
        except Exception as error:
            if attempt == attempts:
                log.exception("zalo bot event %s dropped after %d tries", update_id(event), attempt)
                return
            log_failure(log, f"zalo bot event {update_id(event)} failed; retrying", error)
            await asyncio.sleep(delay * 2 ** (attempt - 1))


async def poll(
    runtime: Runtime, long_poll: int = POLL_TIMEOUT, *, min_delay: float = 1.0, attempts: int = 5
) -> None:
    """Fetch events with getUpdates until cancelled; each goes through the webhook's path."""
    zalo = zalo_bot_of(runtime)
    try:
        # Polling and the webhook are mutually exclusive on Zalo.
        await zalo.client.delete_webhook()
    except ZaloBotError as error:
        log.warning("deleteWebhook failed: %s", error)
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.worker.run(stop))
    failures = 0
    try:
        try:
            me = await zalo.client.get_me()
            log.info("polling Zalo Bot as %s", me.get("account_name") or me.get("id") or "?")
        except ZaloBotError as error:
            log.warning("getMe failed: %s", error)
        while True:
            try:
                events = await zalo.client.get_updates(timeout=long_poll)
            except ZaloBotError as error:
                failures += 1
                delay = min(30.0, min_delay * 2 ** (failures - 1))
                log.warning("getUpdates failed (%s); again in %.0f s", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            for event in events:
                await _handle_with_retries(zalo, event, attempts, min_delay)
    finally:
        stop.set()
        await worker

"""The Zalo OA channel: a thin httpx client for Open API v3, events in, `oa.query` buttons out."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from aiolimiter import AsyncLimiter
from sqlalchemy import func, select

from bot import vietnam
from bot.channels.text import split_text
from bot.content import ASSETS_DIR
from bot.engine import (
    Choice,
    ChoicesReply,
    FileReply,
    Input,
    PictureReply,
    QRReply,
    Start,
    TextInput,
    TextReply,
    Unsupported,
)
from bot.locks import LearnerLocks, LockTimeout
from bot.qr import qr_png
from bot.service import (
    Held,
    Inbound,
    Outgoing,
    RetryAfter,
    TemporaryFailure,
    Tutor,
    Unreachable,
    utcnow,
)
from bot.store import Database
from bot.store.models import OutboxMessage
from bot.store.tokens import TokenRepository

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL = "zalo_oa"
MAX_TEXT = 2000
MAX_TITLE = 100
MAX_PAYLOAD = 1000
MAX_CHOICE_KEY = 64
"""Longer texts are never engine keys (Choice allows 64 characters)."""
BUTTON = "oa.query.hide"
"""Sends the payload as the learner's text without showing it in the chat."""
KEY = re.compile(r"^(?:\d+|[ac]):[a-z]")
"""An engine option key: "<prompt>:<action>". Stale or unknown keys are handled by the engine."""

WINDOW = timedelta(hours=48)
REPLIES_PER_MESSAGE = 8
"""Quotas count by calendar month; Zalo is Vietnamese and Vietnam has no daylight saving."""

CREDENTIALS_ROW = "zalo_oa"
REFRESH_LOCK = "zalo_oa:token"
EARLY_REFRESH = timedelta(minutes=5)
"""Refresh this long before `expires_in` runs out, so no call races the expiry."""
DEFAULT_RETRY_AFTER = 30.0

# Zalo's error codes come from third-party code and docs quotes; only -216 is well attested.
TOKEN_ERRORS = frozenset({-216, -124})
"""The access token is invalid or expired: refresh once and retry once."""
RATE_LIMIT_ERRORS = frozenset({-32})
UNREACHABLE_ERRORS = frozenset({-213})
"""The user does not follow the OA (unfollowed or blocked it)."""
WINDOW_ERRORS = frozenset({-230})
"""No interaction within 7 days: Zalo refuses consultation messages."""

MEDIA_EVENTS = {
    "user_send_image": "image",
    "user_send_sticker": "sticker",
    "user_send_audio": "audio",
    "user_send_video": "video",
    "user_send_file": "file",
    "user_send_location": "location",
    "user_send_link": "link",
    "user_send_gif": "gif",
}


class ZaloOAError(Exception):
    """Zalo answered with an error code (or a non-2xx HTTP status)."""

    def __init__(
        self, code: int, message: str, status: int = 200, retry_after: float | None = None
    ):
        super().__init__(f"Zalo OA error {code}: {message}" if code else message)
        self.code = code
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class ZaloOAClient:
    """OA Open API v3 and the v4 OAuth refresh, nothing more."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_url: str = "https://openapi.zalo.me",
        oauth_url: str = "https://oauth.zaloapp.com",
        timeout: float = 30.0,
    ) -> None:
        self.app_id = app_id
        self._app_secret = app_secret
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self.http = httpx.AsyncClient(timeout=timeout)
        """The connection pool; its timeout makes a hung API a TemporaryFailure."""

    async def aclose(self) -> None:
        await self.http.aclose()

    def _data(self, response: httpx.Response) -> dict[str, Any]:
        """The body of a successful answer; ZaloOAError for anything else."""
        if response.status_code == 429 or response.status_code >= 500:
            raise ZaloOAError(
                0, f"HTTP {response.status_code}", response.status_code, _retry_after(response)
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ZaloOAError(0, f"HTTP {response.status_code}, not a JSON object", 502)
        code = body.get("error", 0)
        if response.is_error or (isinstance(code, int) and code != 0):
            detail = body.get("message") or body.get("error_description") or body.get("error_name")
            raise ZaloOAError(
                code if isinstance(code, int) else 0,
                str(detail or f"HTTP {response.status_code}"),
                response.status_code,
                _retry_after(response),
            )
        return body

    async def refresh(self, refresh_token: str) -> Tokens:
        """Trade a (single-use) refresh token for a new access token and refresh token."""
        response = await self.http.post(
            f"{self.oauth_url}/v4/oa/access_token",
            headers={"secret_key": self._app_secret},
            data={
                "refresh_token": refresh_token,
                "app_id": self.app_id,
                "grant_type": "refresh_token",
            },
            # Well inside the shared lock's expiry (30 s on Redis), so no one refreshes alongside.
            timeout=10.0,
        )
        body = self._data(response)
        try:
            # expires_in arrives as a string ("90000") in the samples seen.
            return Tokens(
                access_token=str(body["access_token"]),
                refresh_token=str(body["refresh_token"]),
                expires_in=int(body.get("expires_in") or 3600),
            )
        except (KeyError, ValueError) as error:
            raise ZaloOAError(0, f"unexpected token answer: {error!r}", 502) from error

    async def send(self, access_token: str, user_id: str, message: dict[str, Any]) -> str:
        """Send a consultation message; returns Zalo's message_id."""
        response = await self.http.post(
            f"{self.api_url}/v3.0/oa/message/cs",
            headers={"access_token": access_token},
            json={"recipient": {"user_id": user_id}, "message": message},
        )
        data = self._data(response).get("data") or {}
        return str(data.get("message_id", ""))

    async def upload_image(self, access_token: str, filename: str, content: bytes) -> str:
        """Upload a picture once; returns the attachment_id to send it by."""
        kind = "image/png" if filename.lower().endswith(".png") else "image/jpeg"
        response = await self.http.post(
            f"{self.api_url}/v2.0/oa/upload/image",
            headers={"access_token": access_token},
            files={"file": (filename, content, kind)},
        )
        data = self._data(response).get("data") or {}
        attachment_id = data.get("attachment_id")
        if not attachment_id:
            raise ZaloOAError(0, "upload answer without attachment_id", 502)
        return str(attachment_id)


# --- access tokens --------------------------------------------------------------------------


class TokenKeeper:
    """The OA's access token, refreshed by one process at a time."""

    # Refresh tokens are single-use: two processes refreshing with the same one would leave
    # one of them (and, if its answer were stored, everyone) with a dead token. So a refresh
    # holds a shared lock, re-reads the stored row, and refreshes only if nobody else just did.

    def __init__(
        self,
        client: ZaloOAClient,
        *,
        database: Database,
        locks: LearnerLocks,
        first_refresh_token: str | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.database = database
        self.locks = locks
        self.first_refresh_token = first_refresh_token
        self.clock = clock
        self.refreshes = 0
        self._access: str | None = None
        self._expires_at: datetime | None = None

    def _fresh(self, expires_at: datetime | None) -> bool:
        return expires_at is None or expires_at - EARLY_REFRESH > self.clock()

    async def token(self) -> str:
        """A usable access token: the one in memory, the stored one, or a new one."""
        if self._access is not None and self._fresh(self._expires_at):
            return self._access
        return await self.renew(stale=self._access)

    async def renew(self, stale: str | None) -> str:
        """A token other than `stale`: another process's fresh one, or one refreshed now."""
        async with self.locks.hold(REFRESH_LOCK):
            async with self.database.unit_of_work() as uow:
                row = await TokenRepository(uow.session).get(CREDENTIALS_ROW)
                stored = None if row is None else (row.access_token, row.expires_at)
                refresh_token = self.first_refresh_token if row is None else row.refresh_token
            if stored is not None:
                access, expires_at = stored
                if access is not None and access != stale and self._fresh(expires_at):
                    self._access, self._expires_at = access, expires_at
                    return access
            if not refresh_token:
                raise ZaloOAError(0, "no refresh token: set CAMTAY_ZALO_OA_REFRESH_TOKEN", 401)
            try:
                tokens = await self.client.refresh(refresh_token)
            except ZaloOAError as error:
                log.error("Zalo OA token refresh refused: %s", error)
                raise
            self.refreshes += 1
            now = self.clock()
            expires_at = now + timedelta(seconds=tokens.expires_in)
            try:
                async with self.database.unit_of_work() as uow:
                    await TokenRepository(uow.session).put(
                        CREDENTIALS_ROW,
                        access_token=tokens.access_token,
                        refresh_token=tokens.refresh_token,
                        expires_at=expires_at,
                        now=now,
                    )
                    await uow.commit()
            except Exception:
                # The old refresh token is spent: without the new one nobody can refresh again.
                log.critical(
                    "Zalo OA tokens refreshed but not stored; after this access token expires, "
                    "set a new CAMTAY_ZALO_OA_REFRESH_TOKEN and delete the platform_tokens row "
                    "'%s'",
                    CREDENTIALS_ROW,
                )
                self._access, self._expires_at = tokens.access_token, expires_at
                raise
            log.info("Zalo OA access token refreshed; valid for %d s", tokens.expires_in)
            self._access, self._expires_at = tokens.access_token, expires_at
            return tokens.access_token


# --- events in ------------------------------------------------------------------------------


class Malformed(ValueError):
    """An event without the fields its kind must have."""


@dataclass(frozen=True)
class Turn:
    """An event that is a learner's input."""

    user_id: str
    input: Input
    update_id: str


@dataclass(frozen=True)
class Unfollow:
    user_id: str


@dataclass(frozen=True)
class Ignored:
    reason: str


Parsed = Turn | Unfollow | Ignored


def _user(event: Mapping[str, Any], *fields: str) -> str:
    for name in fields:
        part = event.get(name)
        if isinstance(part, dict) and isinstance(part.get("id"), str | int) and part["id"] != "":
            return str(part["id"])
    raise Malformed(f"{event.get('event_name')} without {'/'.join(fields)}.id")


def text_input(text: str) -> Input:
    """A button's payload comes back as text: an engine key becomes a Choice."""
    if len(text) <= MAX_CHOICE_KEY and KEY.match(text):
        return Choice(key=text)
    return TextInput(text=text)


def parse(event: Mapping[str, Any]) -> Parsed:
    """What an OA webhook event means for the tutor; nothing of Zalo goes further than this."""
    name = event.get("event_name")
    if not isinstance(name, str):
        raise Malformed("no event_name")
    stamp = str(event.get("timestamp", ""))
    if name == "user_send_text" or name in MEDIA_EVENTS:
        user = _user(event, "sender")
        message = event.get("message")
        if not isinstance(message, dict):
            raise Malformed(f"{name} without message")
        msg_id = message.get("msg_id")
        if name == "user_send_text":
            text = message.get("text")
            if not isinstance(text, str) or not isinstance(msg_id, str) or not msg_id:
                raise Malformed("user_send_text without text or msg_id")
            return Turn(user, text_input(text), msg_id)
        # Media events are expected to carry msg_id too; the fallback keeps dedup working.
        update_id = msg_id if isinstance(msg_id, str) and msg_id else f"{name}:{user}:{stamp}"
        return Turn(user, Unsupported(what=MEDIA_EVENTS[name]), update_id)
    if name == "follow":
        user = _user(event, "follower")
        return Turn(user, Start(), f"follow:{user}:{stamp}")
    if name == "unfollow":
        return Unfollow(_user(event, "follower", "sender"))
    return Ignored(f"event {name}")


Outcome = Literal["turn", "duplicate", "unfollowed", "ignored"]


class ZaloOAChannel:
    """Applies OA webhook events through the tutor."""

    def __init__(
        self, tutor: Tutor, database: Database, on_outbox: Callable[[], None] = lambda: None
    ) -> None:
        self.tutor = tutor
        self.database = database
        self.on_outbox = on_outbox

    async def handle(self, event: Mapping[str, Any]) -> Outcome:
        """Apply one event; returns after its effect is committed (or it was a duplicate)."""
        parsed = parse(event)
        if isinstance(parsed, Ignored):
            log.info("zalo_oa %s ignored", parsed.reason)
            return "ignored"
        if isinstance(parsed, Unfollow):
            async with self.database.unit_of_work() as uow:
                await uow.learners.set_unreachable(CHANNEL, parsed.user_id, self.tutor.clock())
                await uow.commit()
            return "unfollowed"
        result = await self.tutor.handle(
            Inbound(
                channel=CHANNEL,
                external_id=parsed.user_id,
                input=parsed.input,
                update_id=parsed.update_id,
            )
        )
        if not result.duplicate:
            self.on_outbox()
        return "duplicate" if result.duplicate else "turn"


# --- replies out ----------------------------------------------------------------------------


def buttons(reply: ChoicesReply, text: str) -> dict[str, Any]:
    """A text with one `oa.query.hide` button per option."""
    rendered = []
    for option in reply.options:
        if len(option.key) > MAX_PAYLOAD:
            raise ValueError(f"button payload over {MAX_PAYLOAD} characters: {option.key!r}")
        title = option.label if len(option.label) <= MAX_TITLE else option.label[:99] + "…"
        rendered.append({"title": title, "type": BUTTON, "payload": option.key})
    return {
        "text": text,
        "attachment": {"type": "template", "payload": {"buttons": rendered}},
    }


def image(attachment_id: str, caption: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "media",
                "elements": [{"media_type": "image", "attachment_id": attachment_id}],
            },
        }
    }
    if caption:
        message["text"] = caption
    return message


def month_counter(at: datetime) -> str:
    """The name of the proactive-message counter of `at`'s month (Vietnam time)."""
    return f"{CHANNEL}:proactive:{vietnam.local(at):%Y-%m}"


class ZaloOASender:
    """Renders neutral replies as OA messages, inside Zalo's reply window and quota."""

    def __init__(
        self,
        client: ZaloOAClient,
        tokens: TokenKeeper,
        *,
        database: Database,
        assets: Path,
        monthly_quota: int = 0,
        clock: Callable[[], datetime] = utcnow,
        per_second: float = 20,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.database = database
        self.assets = assets
        self.monthly_quota = monthly_quota
        self.clock = clock
        # Zalo publishes no OA rate limit; a modest pace keeps bursts (broadcasts) polite.
        self._limit = AsyncLimiter(1, 1 / per_second)

    async def send(self, message: Outgoing) -> None:
        counter = await self._admit(message)
        try:
            await self._send(message.external_id, message)
        except Exception:
            if counter is not None:
                async with self.database.unit_of_work() as uow:
                    await TokenRepository(uow.session).give_back(counter, self.clock())
                    await uow.commit()
            raise

    async def _admit(self, message: Outgoing) -> str | None:
        """None for a free reply; the counter used for a proactive message; else Held."""
        now = self.clock()
        async with self.database.unit_of_work() as uow:
            learner = await uow.learners.get(message.channel, message.external_id)
            if learner is None:
                raise Unreachable("no such learner")
            if learner.unreachable_at is not None:
                raise Unreachable("the learner unfollowed the OA")
            since = learner.last_active_at
            replies = await uow.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.learner_id == learner.id,
                    OutboxMessage.status == "sent",
                    OutboxMessage.sent_at >= since,
                )
            )
            if now - since < WINDOW and (replies or 0) < REPLIES_PER_MESSAGE:
                return None
            reason = (
                "outside the 48-hour window"
                if now - since >= WINDOW
                else f"over {REPLIES_PER_MESSAGE} replies to the learner's last message"
            )
            counter = month_counter(now)
            if self.monthly_quota > 0 and await TokenRepository(uow.session).take(
                counter, self.monthly_quota, now
            ):
                await uow.commit()
                log.info("zalo_oa message %s sent as a proactive one (%s)", message.id, reason)
                return counter
        raise Held(f"{reason}; no proactive messages left this month")

    async def _send(self, user_id: str, message: Outgoing) -> None:
        try:
            await self._render(user_id, message)
        except ZaloOAError as error:
            translated = self._translate(error)
            if translated is error:
                raise
            raise translated from error
        except httpx.TransportError as error:
            raise TemporaryFailure(f"{type(error).__name__}: {error}") from error
        except LockTimeout as error:
            raise TemporaryFailure(f"token lock busy: {error}") from error

    @staticmethod
    def _translate(error: ZaloOAError) -> Exception:
        if error.status == 429 or error.code in RATE_LIMIT_ERRORS:
            return RetryAfter(error.retry_after or DEFAULT_RETRY_AFTER, str(error))
        if error.status >= 500:
            return TemporaryFailure(str(error))
        if error.code in UNREACHABLE_ERRORS:
            return Unreachable(str(error))
        if error.code in WINDOW_ERRORS:
            return Held(str(error))
        if error.code in TOKEN_ERRORS:
            return TemporaryFailure(f"still refused after a token refresh: {error}")
        return error  # the worker retries with backoff, then marks it failed

    async def _authorized(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Make an API call; on an invalid token, refresh once and try once more."""
        token = await self.tokens.token()
        try:
            return await call(token)
        except ZaloOAError as error:
            if error.code not in TOKEN_ERRORS:
                raise
            log.info("Zalo OA refused the access token (%s); refreshing", error.code)
        token = await self.tokens.renew(stale=token)
        return await call(token)

    async def _post(self, user_id: str, body: dict[str, Any]) -> None:
        await self._limit.acquire()
        await self._authorized(lambda token: self.client.send(token, user_id, body))

    async def _render(self, user_id: str, message: Outgoing) -> None:
        reply = message.reply
        if isinstance(reply, PictureReply):
            await self._picture(user_id, reply)
            return
        if isinstance(reply, QRReply):
            await self._qr(user_id, reply)
            return
        if isinstance(reply, FileReply):
            # OA files are PDF or Word only: the caption carries the download link.
            for part in split_text(reply.caption or reply.url or reply.name, MAX_TEXT):
                await self._post(user_id, {"text": part})
            return
        assert isinstance(reply, TextReply | ChoicesReply)  # noqa: S101 -- the union's rest
        parts = split_text(reply.text, MAX_TEXT)
        for number, part in enumerate(parts, 1):
            last = number == len(parts)
            body = buttons(reply, part) if last and isinstance(reply, ChoicesReply) else None
            await self._post(user_id, body or {"text": part})

    async def _upload(self, name: str, content: bytes) -> str:
        """Upload a picture's bytes; its attachment_id."""
        return await self._authorized(lambda token: self.client.upload_image(token, name, content))

    async def _picture(self, user_id: str, reply: PictureReply) -> None:
        async with self.database.unit_of_work() as uow:
            attachment_id = await uow.media.get(CHANNEL, reply.path)
        if attachment_id is None:
            path = self.assets / reply.path
            attachment_id = await self._upload(path.name, await asyncio.to_thread(path.read_bytes))
            if len(attachment_id) <= 200:  # media_cache.file_id's width
                async with self.database.unit_of_work() as uow:
                    await uow.media.put(CHANNEL, reply.path, attachment_id, self.clock())
                    await uow.commit()
        await self._image(user_id, attachment_id, reply.caption or None)

    async def _qr(self, user_id: str, reply: QRReply) -> None:
        # Uploaded each time and never cached: every code is one person's link, and the media
        # cache is keyed by lesson picture paths, which a link must never be mistaken for.
        # Drawing a dense code takes some 20 ms: off the event loop.
        png = await asyncio.to_thread(qr_png, reply.data)
        attachment_id = await self._upload("qr.png", png)
        text = f"{reply.caption}\n{reply.data}" if reply.caption else reply.data
        await self._image(user_id, attachment_id, text)

    async def _image(self, user_id: str, attachment_id: str, caption: str | None) -> None:
        """An uploaded picture with its caption; a caption over the text limit follows it."""
        if caption is not None and len(caption) > MAX_TEXT:
            await self._post(user_id, image(attachment_id))
            for part in split_text(caption, MAX_TEXT):
                await self._post(user_id, {"text": part})
            return
        await self._post(user_id, image(attachment_id, caption))


# --- wiring ---------------------------------------------------------------------------------


@dataclass
class ZaloOA:
    """The Zalo OA channel's parts; present only when an app id is configured."""

    channel: ZaloOAChannel
    sender: ZaloOASender
    client: ZaloOAClient

    async def close(self) -> None:
        await self.client.aclose()


def build_zalo_oa(
    settings: Settings,
    tutor: Tutor,
    database: Database,
    locks: LearnerLocks,
    notify: Callable[[], None],
) -> ZaloOA:
    if settings.zalo_oa_app_id is None or settings.zalo_oa_app_secret is None:
        raise ValueError("Zalo OA needs CAMTAY_ZALO_OA_APP_ID and CAMTAY_ZALO_OA_APP_SECRET")
    client = ZaloOAClient(
        app_id=settings.zalo_oa_app_id,
        app_secret=settings.zalo_oa_app_secret.get_secret_value(),
        api_url=settings.zalo_oa_api_url,
        oauth_url=settings.zalo_oa_oauth_url,
    )
    first = settings.zalo_oa_refresh_token
    tokens = TokenKeeper(
        client,
        database=database,
        locks=locks,
        first_refresh_token=first.get_secret_value() if first is not None else None,
        clock=tutor.clock,
    )
    sender = ZaloOASender(
        client,
        tokens,
        database=database,
        assets=settings.lessons_dir / ASSETS_DIR,
        monthly_quota=settings.zalo_oa_monthly_quota,
        clock=tutor.clock,
    )
    return ZaloOA(
        channel=ZaloOAChannel(tutor, database, on_outbox=notify), sender=sender, client=client
    )

"""A fake Telegram Bot API server that aiogram's real HTTP client can talk to."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import ClientSession, web

from tests.fakes.server import ApiError, Hang, RecordingServer
from tests.fakes.updates import BOT_FIRST_NAME, BOT_USERNAME, file_ids

# Values aiogram sends verbatim from user text: never JSON-decode them, or a lesson text like
# "[1, 2]" would silently turn into a list.
_FREE_TEXT = frozenset(
    {"text", "caption", "question", "explanation", "title", "description", "short_description"}
)
_MEDIA_METHODS = {
    "senddocument": "document",
    "sendvoice": "voice",
    "sendaudio": "audio",
    "sendvideo": "video",
    "sendanimation": "animation",
    "sendsticker": "sticker",
}

Result = Any
Responder = Callable[["Call"], Result]


@dataclass
class Call:
    """One request the fake received, with its decoded parameters and uploaded files."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    error_code: int | None = None
    result: Any = None
    filenames: dict[str, str] = field(default_factory=dict)

    @property
    def chat_id(self) -> int | None:
        """The chat_id parameter as an int, or None when the call has none."""
        value = self.params.get("chat_id")
        return None if value is None else int(value)

    @property
    def ok(self) -> bool:
        """Whether the fake answered this call successfully."""
        return self.error_code is None


@dataclass(frozen=True)
class _Failure:
    status: int
    description: str
    retry_after: int | None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in {"true", "1"})


def _decode(key: str, value: str) -> Any:
    if key in _FREE_TEXT or not value.startswith(("{", "[")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _error_body(status: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "first_name": "Lan", "type": "private"}
    # Supergroup and channel ids are -100…; plain negative ids are basic groups.
    kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
    return {"id": chat_id, "title": "Lớp tin học", "type": kind}


class FakeTelegram(RecordingServer[Call]):
    """An aiohttp server speaking the Bot API on 127.0.0.1, recording every call."""

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        username: str = BOT_USERNAME,
        first_name: str = BOT_FIRST_NAME,
    ) -> None:
        super().__init__()
        self.token = token
        bot_id = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 123,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.webhook: dict[str, Any] = {}
        self.downloads: dict[str, bytes] = {}
        self._updates: deque[dict[str, Any]] = deque()
        self._scripts: dict[str, deque[_Failure | Hang]] = defaultdict(deque)
        self._responders: dict[str, Responder] = {}
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._file_seq = itertools.count(1)
        self._update_queued = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def wake(self) -> None:
        self._update_queued.set()

    # -- scripting -------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of method fail with this status (429 defaults to 3 s)."""
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 3
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == HTTPStatus.TOO_MANY_REQUESTS
                else HTTPStatus(status).phrase
            )
        for _ in range(times):
            self._scripts[method.lower()].append(_Failure(status, description, retry_after))

    def hang(self, method: str, seconds: float) -> None:
        """Make the next call of method wait this long before answering normally."""
        self._scripts[method.lower()].append(Hang(seconds))

    def respond(self, method: str, result: Result | Responder) -> None:
        """Answer every later call of method with result, or with result(call) if callable."""
        self._responders[method.lower()] = result if callable(result) else (lambda _call: result)

    def queue_update(self, update: dict[str, Any]) -> None:
        """Queue an update; getUpdates delivers it until an offset past it confirms it."""
        self._updates.append(update)
        self._update_queued.set()

    def add_file(self, content: bytes, file_id: str | None = None) -> str:
        """Make content downloadable through getFile and the file URL; return its file_id."""
        if file_id is None:
            file_id = file_ids("F", next(self._file_seq))[0]
        self.downloads[file_id] = content
        return file_id

    async def call_from_webhook_answer(self, body: Any) -> None:
        """Make the Bot API call that a webhook's response names, as Telegram does with one
        ("Making requests when getting updates"); a response without "method" asks nothing."""
        if not isinstance(body, dict) or "method" not in body:
            return
        params = {key: value for key, value in body.items() if key != "method"}
        async with ClientSession() as client:
            url = f"{self.base_url}/bot{self.token}/{body['method']}"
            async with client.post(url, json=params) as response:
                await response.read()

    # -- HTTP ------------------------------------------------------------------------------

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(_error_body(404, "Not Found"), status=404)

    async def _download(self, request: web.Request) -> web.Response:
        content = self.downloads.get(request.match_info["path"].rsplit("/", 1)[-1])
        if request.match_info["token"] != self.token or content is None:
            return web.json_response(_error_body(404, "Not Found"), status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _read(self, request: web.Request) -> Call:
        params: dict[str, Any] = {key: _decode(key, value) for key, value in request.query.items()}
        parts: dict[str, bytes] = {}
        filenames: dict[str, str] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            # post() covers both encodings aiogram uses: urlencoded without files, multipart with.
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    parts[key] = value.file.read()
                    filenames[key] = value.filename
                elif isinstance(value, str):
                    params[key] = _decode(key, value)
                else:
                    params[key] = _decode(key, bytes(value).decode())
        call = Call(method=request.match_info["method"], params=params, at=time.monotonic())
        # aiogram uploads a file as a random part name and sends "attach://name" in the
        # parameter; key the bytes by the parameter so tests can ask for files["photo"].
        for key, value in params.items():
            if isinstance(value, str) and value.startswith("attach://"):
                part = value.removeprefix("attach://")
                if part in parts:
                    call.files[key] = parts.pop(part)
                    call.filenames[key] = filenames.pop(part)
        call.files.update(parts)
        call.filenames.update(filenames)
        return call

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(_error_body(401, "Unauthorized"), status=401)
        call = await self._read(request)
        method = call.method.lower()
        script = self._scripts[method].popleft() if self._scripts[method] else None
        if isinstance(script, _Failure):
            call.error_code = script.status
        self.record(call)
        if isinstance(script, _Failure):
            body = _error_body(script.status, script.description, script.retry_after)
            return web.json_response(body, status=script.status)
        if isinstance(script, Hang):
            await self._sleep(script.seconds)
        try:
            call.result = await self._result(method, call)
        except ApiError as error:
            call.error_code = error.status
            body = _error_body(error.status, error.description)
            return web.json_response(body, status=error.status)
        return web.json_response({"ok": True, "result": call.result})

    async def _sleep(self, seconds: float) -> None:
        # Sleep on the closing event so stop() never waits out a scripted hang.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- results ---------------------------------------------------------------------------

    async def _result(self, method: str, call: Call) -> Result:
        if method in self._responders:
            return self._responders[method](call)
        params = call.params
        if method == "getme":
            return self.bot_user
        if method == "sendmessage":
            return self._new_message(call, text=params.get("text", ""))
        if method == "sendphoto":
            return self._new_message(call, photo=self._photo(call))
        if method in _MEDIA_METHODS:
            kind = _MEDIA_METHODS[method]
            return self._new_message(call, **{kind: self._media(kind, call)})
        if method == "copymessage":
            return {"message_id": next(self._message_ids[self._chat_id(call)])}
        if method in {"editmessagetext", "editmessagereplymarkup", "editmessagecaption"}:
            return self._edit(method, call)
        if method == "getupdates":
            return await self._get_updates(params)
        if method == "setwebhook":
            self.webhook = dict(params)
            return True
        if method == "deletewebhook":
            self.webhook = {}
            if _truthy(params.get("drop_pending_updates")):
                self._updates.clear()
            return True
        if method == "getwebhookinfo":
            return self._webhook_info()
        if method == "getfile":
            return self._file(params.get("file_id", ""))
        if method == "getmycommands":
            return []
        return True

    def _chat_id(self, call: Call) -> int:
        value = call.params.get("chat_id")
        if value is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            return int(value)
        except ValueError:
            # "@channelname": give the channel a stable supergroup-style id.
            return -1_000_000_000_000 - sum(map(ord, str(value)))

    def _new_message(self, call: Call, **content: Any) -> dict[str, Any]:
        chat_id = self._chat_id(call)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat_id]),
            "from": self.bot_user,
            "chat": _chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        for key in ("caption", "entities", "caption_entities"):
            if key in call.params:
                message[key] = call.params[key]
        markup = call.params.get("reply_markup")
        # Telegram echoes only inline keyboards; reply keyboards are not part of the Message.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self.messages[chat_id, message["message_id"]] = message
        return message

    def _new_file_ids(self, kind: str) -> tuple[str, str]:
        return file_ids(kind, next(self._file_seq))

    def _photo(self, call: Call) -> list[dict[str, Any]]:
        sent = call.params.get("photo")
        size = len(call.files.get("photo", b"")) or 120_000
        sizes = []
        for width, height, file_size in [(90, 68, size // 20 or 1), (1280, 960, size)]:
            file_id, unique_id = self._new_file_ids("P")
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": unique_id,
                    "width": width,
                    "height": height,
                    "file_size": file_size,
                }
            )
        # Resending by file_id: Telegram hands back that same id for the full-size photo.
        if isinstance(sent, str) and not sent.startswith(("attach://", "http://", "https://")):
            sizes[-1]["file_id"] = sent
        return sizes

    def _media(self, kind: str, call: Call) -> dict[str, Any]:
        sent = call.params.get(kind)
        file_id, unique_id = self._new_file_ids(kind[0].upper())
        if isinstance(sent, str) and not sent.startswith(("attach://", "http://", "https://")):
            file_id = sent
        media: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_size": len(call.files.get(kind, b"")) or 10_000,
        }
        if kind == "document":
            media["file_name"] = call.filenames.get(kind, "document")
        if kind in {"voice", "audio", "video", "animation"}:
            media["duration"] = int(call.params.get("duration", 3))
        if kind in {"video", "animation", "sticker"}:
            media |= {"width": 512, "height": 512}
        if kind == "sticker":
            media |= {"type": "regular", "is_animated": False, "is_video": False}
        return media

    def _edit(self, method: str, call: Call) -> dict[str, Any] | bool:
        params = call.params
        if "inline_message_id" in params:
            return True  # Telegram answers True, not a Message, for inline messages.
        chat_id = self._chat_id(call)
        message_id = int(params.get("message_id", 0))
        message = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": _chat(chat_id),
            "date": int(time.time()),
        }
        message = dict(message)
        if method == "editmessagetext":
            message["text"] = params.get("text", "")
        if method == "editmessagecaption":
            message["caption"] = params.get("caption", "")
        # An edit without reply_markup removes the inline keyboard, as on Telegram.
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        self.messages[chat_id, message_id] = message
        return message

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset", 0))
        limit = int(params.get("limit", 100)) or 100
        # Long polling is capped at a second so a polling test never stalls for long.
        wait = min(float(params.get("timeout", 0)), 1.0)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            # An offset confirms every earlier update: Telegram forgets them for good. Updates at
            # or after it stay queued, so an unconfirmed one is delivered again (bot/channels/
            # telegram_poll.py relies on that to retry a failed update).
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
            if self._updates:
                return list(itertools.islice(self._updates, limit))
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self._closing.is_set():
                return []
            self._update_queued.clear()
            with contextlib.suppress(TimeoutError):
                # stop() sets this event too, so a long poll never delays shutdown.
                await asyncio.wait_for(self._update_queued.wait(), remaining)

    def _webhook_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if "max_connections" in self.webhook:
            info["max_connections"] = int(self.webhook["max_connections"])
        if "allowed_updates" in self.webhook:
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _file(self, file_id: str) -> dict[str, Any]:
        if file_id not in self.downloads:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"AQAD{sum(map(ord, file_id)):08d}",
            "file_size": len(self.downloads[file_id]),
            "file_path": f"documents/{file_id}",
        }

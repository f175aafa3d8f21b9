"""A fake Zalo Bot API server (bot-api.zaloplatforms.com) for the real httpx client to talk to.

Shapes follow /work/shared/PLATFORMS.md §3b. Where Zalo's behaviour is UNCONFIRMED (the answer
to getUpdates while a webhook is set, error texts), the fake picks something plausible.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.fakes.server import ApiError, Hang, RecordingServer

BOT_ID = "4213370001"
Payload = dict[str, Any]
Responder = Callable[["Call"], Any]

_message_seq = itertools.count(1)


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    error_code: int | None = None
    result: Any = None

    @property
    def chat_id(self) -> str | None:
        value = self.params.get("chat_id")
        return None if value is None else str(value)

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True)
class _Failure:
    status: int
    """The HTTP status; 200 for an ok:false answer inside a successful response."""
    error_code: int
    description: str
    retry_after: int | None


def _error_body(code: int, description: str, retry_after: int | None = None) -> Payload:
    body: Payload = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


# --- event builders ---------------------------------------------------------------------------


def message_id() -> str:
    """A fresh message id, hex like Zalo's."""
    return f"{next(_message_seq):020x}"


def event(
    event_name: str,
    chat_id: str,
    *,
    text: str | None = None,
    chat_type: str = "PRIVATE",
    mid: str | None = None,
    wrapped: bool = True,
    **extra: Any,
) -> Payload:
    """An event as Zalo posts it to a webhook: wrapped in {ok, result} unless told otherwise."""
    message: Payload = {
        "from": {"id": chat_id, "display_name": "Bà Lan", "is_bot": False},
        "chat": {"id": chat_id, "chat_type": chat_type},
        "message_id": mid or message_id(),
        "date": int(time.time() * 1000),  # milliseconds
        **extra,
    }
    if text is not None:
        message["text"] = text
    result = {"event_name": event_name, "message": message}
    return {"ok": True, "result": result} if wrapped else result


def text_event(chat_id: str, text: str, **options: Any) -> Payload:
    return event("message.text.received", chat_id, text=text, **options)


def image_event(chat_id: str, **options: Any) -> Payload:
    return event(
        "message.image.received",
        chat_id,
        photo_url="https://photo.example/p.jpg",
        caption="",
        **options,
    )


# --- the server -------------------------------------------------------------------------------


class FakeZaloBot(RecordingServer[Call]):
    """An aiohttp server speaking the Zalo Bot API on 127.0.0.1, recording every call."""

    def __init__(self, token: str = f"{BOT_ID}:fake-secret") -> None:
        super().__init__()
        self.token = token
        self.bot_info: Payload = {
            "id": token.split(":", 1)[0],
            "account_name": "bot.camtay",
            "account_type": "BASIC",
            "can_join_groups": False,
        }
        self.webhook: Payload = {}
        self.long_poll_cap = 1.0
        """getUpdates waits at most this long, so a polling test never stalls."""
        self._events: deque[Payload] = deque()
        self._scripts: dict[str, deque[_Failure | Hang]] = defaultdict(deque)
        self._responders: dict[str, Responder] = {}
        self._event_queued = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def wake(self) -> None:
        self._event_queued.set()

    # -- scripting ---------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int = 429,
        *,
        in_body: bool = False,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of method fail with this code.

        in_body: answer HTTP 200 carrying {"ok": false, "error_code": status}, as Zalo may.
        """
        if description is None:
            description = HTTPStatus(status).phrase
        for _ in range(times):
            self._scripts[method.lower()].append(
                _Failure(200 if in_body else status, status, description, retry_after)
            )

    def hang(self, method: str, seconds: float) -> None:
        """Make the next call of method wait this long before answering normally."""
        self._scripts[method.lower()].append(Hang(seconds))

    def respond(self, method: str, result: Any) -> None:
        """Answer every later call of method with result, or result(call) when callable."""
        self._responders[method.lower()] = result if callable(result) else (lambda _call: result)

    def queue_event(self, payload: Payload) -> None:
        """Queue an event (wrapped or not) for getUpdates, which hands out one per call."""
        self._events.append(payload.get("result", payload))
        self._event_queued.set()

    # -- HTTP --------------------------------------------------------------------------------

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(_error_body(404, "Not Found"), status=404)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(_error_body(401, "Unauthorized"), status=401)
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return web.json_response(_error_body(400, "Bad Request: not JSON"), status=400)
            if isinstance(body, dict):
                params.update(body)
        call = Call(method=request.match_info["method"], params=params)
        method = call.method.lower()
        script = self._scripts[method].popleft() if self._scripts[method] else None
        if isinstance(script, _Failure):
            call.error_code = script.error_code
        self.record(call)
        if isinstance(script, _Failure):
            body = _error_body(script.error_code, script.description, script.retry_after)
            return web.json_response(body, status=script.status)
        if isinstance(script, Hang):
            await self._sleep(script.seconds)
        try:
            call.result = await self._result(method, call)
        except ApiError as error:
            call.error_code = error.status
            return web.json_response(
                _error_body(error.status, error.description), status=error.status
            )
        return web.json_response({"ok": True, "result": call.result})

    async def _sleep(self, seconds: float) -> None:
        # Sleep on the closing event so stop() never waits out a scripted hang.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- results -----------------------------------------------------------------------------

    async def _result(self, method: str, call: Call) -> Any:
        if method in self._responders:
            return self._responders[method](call)
        params = call.params
        if method == "getme":
            return self.bot_info
        if method == "sendmessage":
            text = params.get("text")
            if not isinstance(text, str) or not 1 <= len(text) <= 2000:
                raise ApiError(400, "Bad Request: text must be 1-2000 characters")
            return self._sent(call)
        if method == "sendphoto":
            photo = params.get("photo")
            if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
                raise ApiError(400, "Bad Request: photo must be a URL")
            return self._sent(call)
        if method == "sendchataction":
            self._chat_id(call)
            return True
        if method == "getupdates":
            return await self._get_updates(params)
        if method == "setwebhook":
            url, secret = params.get("url"), params.get("secret_token")
            if not isinstance(url, str) or not url.startswith("https://"):
                raise ApiError(400, "Bad Request: url must be a public https:// address")
            if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
                raise ApiError(400, "Bad Request: secret_token must be 8-256 characters")
            self.webhook = {"url": url, "secret_token": secret, "updated_at": _now_ms()}
            return {"url": url, "updated_at": self.webhook["updated_at"]}
        if method == "deletewebhook":
            self.webhook = {}
            return {"url": "", "updated_at": _now_ms()}
        if method == "getwebhookinfo":
            return {
                "url": self.webhook.get("url", ""),
                "updated_at": self.webhook.get("updated_at"),
            }
        raise ApiError(404, f"Not Found: method {call.method}")

    def _chat_id(self, call: Call) -> str:
        value = call.params.get("chat_id")
        if not value:
            raise ApiError(400, "Bad Request: chat_id is required")
        return str(value)

    def _sent(self, call: Call) -> Payload:
        self._chat_id(call)
        return {"message_id": secrets.token_hex(10), "date": _now_ms()}

    async def _get_updates(self, params: dict[str, Any]) -> Payload:
        if self.webhook.get("url"):
            raise ApiError(400, "Bad Request: webhook is set; delete it before polling")
        wait = min(float(params.get("timeout", 30)), self.long_poll_cap)
        deadline = asyncio.get_running_loop().time() + wait
        while not self._events:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self._closing.is_set():
                # An empty long poll ends this way on Zalo (an ok:false 408, not an empty result).
                raise ApiError(408, "Request timeout")
            self._event_queued.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_queued.wait(), remaining)
        # No offset on Zalo: an event handed out is gone.
        return self._events.popleft()


def _now_ms() -> int:
    return int(time.time() * 1000)

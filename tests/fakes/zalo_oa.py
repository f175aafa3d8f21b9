"""A fake Zalo OA Open API and OAuth server on 127.0.0.1 that the real httpx client talks to."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, Hang

MESSAGE = "message"
UPLOAD = "upload"
REFRESH = "refresh"
ENDPOINTS = {
    "/v3.0/oa/message/cs": MESSAGE,
    "/v2.0/oa/upload/image": UPLOAD,
    "/v4/oa/access_token": REFRESH,
}
INVALID_TOKEN = -216
INVALID_REFRESH_TOKEN = -14014


@dataclass
class Call:
    """One request the fake received."""

    endpoint: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    status: int = 200
    error: int = 0
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error == 0

    @property
    def user_id(self) -> str | None:
        recipient = self.body.get("recipient")
        return recipient.get("user_id") if isinstance(recipient, dict) else None

    @property
    def message(self) -> dict[str, Any]:
        message = self.body.get("message")
        return message if isinstance(message, dict) else {}

    @property
    def buttons(self) -> list[dict[str, Any]]:
        payload = self.message.get("attachment", {}).get("payload", {})
        return list(payload.get("buttons", []))


@dataclass(frozen=True)
class _Failure:
    status: int
    error: int
    message: str
    retry_after: float | None = None


class FakeZaloOA(FakeServer):
    """Speaks OA message/cs, upload/image and the v4 OAuth refresh; records every call."""

    # Refresh tokens are single-use, as on Zalo: a reused one is refused, so a double refresh
    # by two workers shows up as a failed call.

    def __init__(
        self, *, app_id: str, app_secret: str, refresh_token: str, expires_in: int = 90000
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.expires_in = expires_in
        self.calls: list[Call] = []
        self.refresh_tokens: set[str] = {refresh_token}
        self.spent_refresh_tokens: set[str] = set()
        self.access_tokens: set[str] = set()
        self.latest_refresh_token = refresh_token
        self.attachments: dict[str, bytes] = {}
        self._scripts: dict[str, deque[_Failure | Hang]] = defaultdict(deque)
        self._seq = itertools.count(1)

    def application(self) -> web.Application:
        return web.Application(client_max_size=8 * 1024**2)

    def routes(self, app: web.Application) -> None:
        for path in ENDPOINTS:
            app.router.add_post(path, self._handle)

    # -- scripting -------------------------------------------------------------------------

    def fail(
        self,
        endpoint: str,
        *,
        status: int = 200,
        error: int = -1,
        message: str = "",
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Fail the next `times` calls: an HTTP status (Retry-After optional) or a Zalo code."""
        if status != 200:
            error = 0
        failure = _Failure(status, error, message or f"error {error or status}", retry_after)
        self._scripts[endpoint].extend([failure] * times)

    def hang(self, endpoint: str, seconds: float) -> None:
        """Make the next call of endpoint wait this long before answering normally."""
        self._scripts[endpoint].append(Hang(seconds))

    def expire_access_tokens(self) -> None:
        """Every access token issued so far now answers -216, as after an expiry."""
        self.access_tokens.clear()

    # -- inspection ------------------------------------------------------------------------

    def sent(self, endpoint: str = MESSAGE, *, ok: bool | None = None) -> list[Call]:
        return [
            call
            for call in self.calls
            if call.endpoint == endpoint and (ok is None or call.ok == ok)
        ]

    # -- HTTP ------------------------------------------------------------------------------

    async def _read(self, request: web.Request, endpoint: str) -> Call:
        call = Call(endpoint=endpoint, headers={k.lower(): v for k, v in request.headers.items()})
        if request.content_type == "application/json":
            body = await request.json()
            call.body = body if isinstance(body, dict) else {"_": body}
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    call.files[key] = value.file.read()
                else:
                    call.body[key] = str(value)
        return call

    async def _handle(self, request: web.Request) -> web.Response:
        endpoint = ENDPOINTS[request.path]
        call = await self._read(request, endpoint)
        script = self._scripts[endpoint].popleft() if self._scripts[endpoint] else None
        if isinstance(script, Hang):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), script.seconds)
        if isinstance(script, _Failure):
            response = self._answer(call, script.status, script.error, script.message)
            if script.retry_after is not None:
                response.headers["Retry-After"] = str(script.retry_after)
            return response
        if endpoint == REFRESH:
            return self._refresh(call)
        if call.headers.get("access_token") not in self.access_tokens:
            return self._answer(call, 200, INVALID_TOKEN, "Access token is invalid")
        if endpoint == UPLOAD:
            content = call.files.get("file")
            if not content:
                return self._answer(call, 200, -201, "file is missing")
            attachment_id = f"att-{next(self._seq)}-" + "x" * 40
            self.attachments[attachment_id] = content
            return self._answer(call, result={"data": {"attachment_id": attachment_id}})
        message = call.message
        if not call.user_id or not (message.get("text") or message.get("attachment")):
            return self._answer(call, 200, -201, "Parameters are invalid")
        attachment = message.get("attachment", {})
        for element in attachment.get("payload", {}).get("elements", []):
            if element.get("attachment_id") not in self.attachments:
                return self._answer(call, 200, -201, "attachment_id is invalid")
        if len(message.get("text", "")) > 2000:
            return self._answer(call, 200, -201, "text is too long")
        message_id = f"msg-{next(self._seq)}"
        return self._answer(call, result={"data": {"message_id": message_id}})

    def _refresh(self, call: Call) -> web.Response:
        if call.headers.get("secret_key") != self.app_secret or call.body.get("app_id") != (
            self.app_id
        ):
            return self._answer(call, 200, -14002, "Invalid secret key or app id", oauth=True)
        token = call.body.get("refresh_token", "")
        if call.body.get("grant_type") != "refresh_token" or token not in self.refresh_tokens:
            return self._answer(call, 200, INVALID_REFRESH_TOKEN, "Invalid refresh token", True)
        self.refresh_tokens.discard(token)
        self.spent_refresh_tokens.add(token)
        number = next(self._seq)
        access, refresh = f"access-{number}", f"refresh-{number}"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        self.latest_refresh_token = refresh
        result = {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": str(self.expires_in),  # Zalo sends it as a string
        }
        return self._answer(call, result=result)

    def _answer(
        self,
        call: Call,
        status: int = 200,
        error: int = 0,
        message: str = "Success",
        oauth: bool = False,
        *,
        result: dict[str, Any] | None = None,
    ) -> web.Response:
        call.status, call.error = status, error
        if error == 0 and status == 200:
            call.result = {"error": 0, "message": "Success", **(result or {})}
            if call.endpoint == REFRESH:
                call.result = dict(result or {})
        elif oauth:
            call.result = {"error": error, "error_name": message, "error_description": message}
        else:
            call.result = {"error": error, "message": message}
        self.calls.append(call)
        if status != 200:
            return web.json_response({"error": -status, "message": message}, status=status)
        return web.json_response(call.result)

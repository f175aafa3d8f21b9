"""A fake OpenAI-compatible server (chat completions) that the real `openai` client can talk to.

`async with FakeOpenAI() as fake:` listens on 127.0.0.1; point `openai.AsyncOpenAI` at
`fake.base_url + "/v1"` with `fake.api_key`. Every request is recorded (`fake.calls`,
`fake.sent()`, `await fake.wait_for(COMPLETIONS)`), and the next calls can be scripted: an answer
text, a slow answer (`hang`), an HTTP error (`fail`: 429 with retry-after, 500, ...), a broken
body (`malformed`) or any raw body (`raw`). Unscripted calls get `echo`: a short answer built
from the first lesson passage of the request, so a test can see what the model was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.fakes.server import Hang, RecordingServer

COMPLETIONS = "chat.completions"
"""The method name `POST /v1/chat/completions` is recorded under."""
MODELS = "models"
"""The method name `GET /v1/models` is recorded under."""
ECHO_PREFIX = "🤖 "
"""What every `echo` answer starts with, so a test tells the model's words from the fallback's."""
BROKEN_BODY = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"mess'

Payload = dict[str, Any]
Responder = Callable[["Completion"], str | None]


@dataclass
class Completion:
    """One request the fake received, with its decoded JSON body and what it answered."""

    method: str
    body: Payload
    authorization: str = ""
    at: float = field(default_factory=time.monotonic)
    status: int = HTTPStatus.OK
    answer: str | None = None
    """The message content the fake answered with (None for errors and raw bodies)."""

    @property
    def ok(self) -> bool:
        """Whether the fake answered with a well-formed completion."""
        return self.status == HTTPStatus.OK and self.answer is not None

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[Payload]:
        messages = self.body.get("messages", [])
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    def contents(self, role: str) -> list[str]:
        """The text of every message of role, in order (list-of-parts content joined)."""
        found = []
        for message in self.messages:
            if message.get("role") != role:
                continue
            content = message.get("content", "")
            if isinstance(content, list):
                content = "".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
            found.append(str(content))
        return found

    @property
    def system(self) -> str:
        """The system prompt ("" when there is none)."""
        return "\n".join(self.contents("system"))

    @property
    def user(self) -> str:
        """The last user message ("" when there is none)."""
        users = self.contents("user")
        return users[-1] if users else ""


@dataclass(frozen=True)
class _Answer:
    text: str | None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class _Failure:
    status: int
    message: str
    retry_after: float | None


@dataclass(frozen=True)
class _Raw:
    body: bytes
    status: int
    content_type: str


@dataclass(frozen=True)
class _Step:
    """One scripted call: an optional delay (a `Hang`), then an outcome (None: the responder)."""

    hang: Hang | None
    outcome: _Answer | _Failure | _Raw | None


def first_passage(call: Completion) -> str:
    """The first lesson passage line of the request ("- (lesson) text"), without its bullet.

    Falls back to the first non-empty line of the user message.
    """
    lines = [line.strip() for line in call.user.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("- "):
            text = line.removeprefix("- ")
            if text.startswith("("):
                text = text.partition(")")[2].strip()
            return text
    return lines[0] if lines else ""


def echo(call: Completion) -> str:
    """The default answer: ECHO_PREFIX and the request's first passage line."""
    return f"{ECHO_PREFIX}{first_passage(call)}"


def _error_body(status: int, message: str) -> Payload:
    kinds = {
        HTTPStatus.UNAUTHORIZED: ("invalid_request_error", "invalid_api_key"),
        HTTPStatus.TOO_MANY_REQUESTS: ("requests", "rate_limit_exceeded"),
    }
    kind, code = kinds.get(HTTPStatus(status), ("server_error", None))
    if status < HTTPStatus.INTERNAL_SERVER_ERROR and status not in kinds:
        kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _tokens(text: str) -> int:
    return len(text.split())


class FakeOpenAI(RecordingServer[Completion]):
    """An aiohttp server speaking OpenAI's chat completions on 127.0.0.1, recording every call."""

    def __init__(self, api_key: str | None = "sk-test", *, model: str = "fake-model") -> None:
        """api_key None accepts any (or no) Authorization header, like a local model server."""
        super().__init__()
        self.api_key = api_key
        self.model = model
        self._script: deque[_Step] = deque()
        self._responder: Responder = echo
        self._ids = itertools.count(1)

    @property
    def v1(self) -> str:
        """The base URL an OpenAI client takes: base_url + "/v1"."""
        return f"{self.base_url}/v1"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    # -- scripting -------------------------------------------------------------------------

    def answer(self, text: str | None, *, times: int = 1, finish_reason: str = "stop") -> None:
        """Answer the next `times` calls with this message content (None: a null content)."""
        for _ in range(times):
            self._script.append(_Step(None, _Answer(text, finish_reason)))

    def hang(self, seconds: float, text: str | None = None) -> None:
        """Make the next call wait this long, then answer text (default: the responder)."""
        outcome = None if text is None else _Answer(text)
        self._script.append(_Step(Hang(seconds), outcome))

    def fail(
        self,
        status: int = HTTPStatus.INTERNAL_SERVER_ERROR,
        *,
        retry_after: float | None = None,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls fail with this status (a 429 says retry-after 20 s)."""
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 20
        if message is None:
            message = (
                "Rate limit reached for requests"
                if status == HTTPStatus.TOO_MANY_REQUESTS
                else HTTPStatus(status).phrase
            )
        for _ in range(times):
            self._script.append(_Step(None, _Failure(status, message, retry_after)))

    def malformed(self, *, times: int = 1) -> None:
        """Answer the next `times` calls with 200 and a cut-off JSON body."""
        for _ in range(times):
            self.raw(BROKEN_BODY)

    def raw(
        self,
        body: bytes | str | Payload,
        *,
        status: int = HTTPStatus.OK,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next call with exactly this body (a dict is sent as JSON)."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self._script.append(_Step(None, _Raw(body, status, content_type)))

    def respond(self, answer: str | Responder) -> None:
        """Answer every later unscripted call with answer, or with answer(call) if callable."""
        self._responder = answer if callable(answer) else (lambda _call: answer)

    @property
    def pending(self) -> int:
        """Scripted outcomes not used yet."""
        return len(self._script)

    # -- HTTP ------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == (
            f"Bearer {self.api_key}"
        )

    def _error(self, call: Completion, status: int, message: str) -> web.Response:
        call.status = status
        return web.json_response(_error_body(status, message), status=status)

    async def _not_found(self, request: web.Request) -> web.Response:
        body = _error_body(404, f"Unknown request URL: {request.method} {request.path}")
        return web.json_response(body, status=404)

    async def _models(self, request: web.Request) -> web.Response:
        call = Completion(MODELS, {}, request.headers.get("Authorization", ""))
        self.record(call)
        if not self._authorized(request):
            return self._error(call, HTTPStatus.UNAUTHORIZED, "Incorrect API key provided")
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "camtay-tests"}
        return web.json_response({"object": "list", "data": [model]})

    async def _completions(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        call = Completion(
            COMPLETIONS,
            body if isinstance(body, dict) else {},
            request.headers.get("Authorization", ""),
        )
        self.record(call)
        if not self._authorized(request):
            return self._error(call, HTTPStatus.UNAUTHORIZED, "Incorrect API key provided")
        if not isinstance(body, dict) or not call.messages:
            return self._error(call, HTTPStatus.BAD_REQUEST, "'messages' is a required property")
        if body.get("stream"):
            return self._error(call, HTTPStatus.BAD_REQUEST, "the fake does not stream")
        # Scripts are used in the order calls arrive, before any delay.
        step = self._script.popleft() if self._script else _Step(None, None)
        if step.hang is not None:
            await self._sleep(step.hang.seconds)
        outcome = step.outcome or _Answer(self._responder(call))
        if isinstance(outcome, _Failure):
            response = self._error(call, outcome.status, outcome.message)
            if outcome.retry_after is not None:
                response.headers["retry-after"] = f"{outcome.retry_after:g}"
                response.headers["x-ratelimit-remaining-requests"] = "0"
            return response
        if isinstance(outcome, _Raw):
            call.status = outcome.status
            return web.Response(
                body=outcome.body, status=outcome.status, content_type=outcome.content_type
            )
        call.answer = outcome.text
        return web.json_response(self._completion(call, outcome))

    def _completion(self, call: Completion, answer: _Answer) -> Payload:
        prompt = sum(_tokens(text) for text in call.contents("system") + call.contents("user"))
        completion = _tokens(answer.text or "")
        return {
            "id": f"chatcmpl-fake{next(self._ids):06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model or self.model,
            "system_fingerprint": "fp_camtay_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    async def _sleep(self, seconds: float) -> None:
        # Sleep on the closing event so stop() never waits out a scripted hang.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

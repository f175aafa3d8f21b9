"""Metrics, structured logs and the request id: what an operator watches in production.

The metrics live in prometheus_client's default registry (process-global): the web app serves
them at `/metrics`, `camtay worker` on `CAMTAY_METRICS_PORT`. Neither is authenticated: keep
them on the private network, never behind the public reverse proxy.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Literal

from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from bot.outages import unreachable

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPDATES = Counter("camtay_updates_total", "Updates received", ["channel", "result"])
"""result: applied / duplicate / ignored / rejected / error / shed (turned away with a 503,
for the platform to deliver again: webhook.app.Shedding) / unavailable (a 503 too: PostgreSQL or
Redis was out of reach, bot.outages)."""

TURN_SECONDS = Histogram(
    "camtay_turn_seconds",
    "Time to apply one update",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SENDS = Counter("camtay_sends_total", "Messages sent to platforms", ["channel", "result"])
"""result: sent / retry / held / unreachable / failed / rate_limited."""

OUTBOX_DEPTH = Gauge("camtay_outbox_depth", "Outbox messages waiting", ["status"])
LOCK_WAIT_SECONDS = Histogram(
    "camtay_lock_wait_seconds",
    "Time waiting for a learner's lock",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10),
)
PLACE_WAIT_SECONDS = Histogram(
    "camtay_place_wait_seconds",
    "Time a Telegram update over the bound on turns in progress waited for a place "
    "(taken in or, after the longest wait, turned away)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MODEL_CALLS = Counter("camtay_model_calls_total", "Calls to the language model", ["kind", "result"])

REQUEST_ID: ContextVar[str | None] = ContextVar("camtay_request_id", default=None)
"""The id of the HTTP request being handled, for the logs; None outside a request."""
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = ("levelname", "name", "message", "request_id")
_OURS = "_camtay_handler"


def request_id_from(given: str | None) -> str:
    """A caller's id when it is a safe one to log and echo, otherwise a fresh one."""
    if given is not None and _REQUEST_ID_SHAPE.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id`: the current request's, or "-" outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get() or "-"
        return True


def configure_logging(
    format: Literal["text", "json"] = "text",
    level: str | int = "INFO",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """One handler on the root logger (standard error unless `stream`), replacing the one an
    earlier call installed: plain lines, or one JSON object a line for a log collector."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    if format == "json":
        handler.setFormatter(
            JsonFormatter(
                list(JSON_FIELDS),
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601, UTC
                # uvicorn's copy of each message with terminal colours is no use in a collector
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    setattr(handler, _OURS, True)
    level = level.upper() if isinstance(level, str) else level
    # On the handler too: a library that sets its own logger to DEBUG is held to `level`.
    handler.setLevel(level)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


class RequestIdMiddleware:
    """Takes the request id from `X-Request-ID` (or makes one), keeps it in REQUEST_ID for the
    logs while the request is handled, and echoes it in the response's `X-Request-ID`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (
                value.decode("latin-1")
                for name, value in scope.get("headers", [])
                if name.lower() == b"x-request-id"
            ),
            None,
        )
        request_id = request_id_from(given)
        header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"x-request-id"
                ]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


# --- updates from the platforms -------------------------------------------------------------

_RESULTS = {
    "turn": "applied",
    "blocked": "applied",
    "unblocked": "applied",
    "unfollowed": "applied",
    "duplicate": "duplicate",
    "ignored": "ignored",
    "group": "ignored",
}
"""A channel's outcome as UPDATES' result; an unknown outcome counts as applied."""


class Tally:
    """What came of one update, filled in by the route inside `counted`."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.result: str | None = None
        self.seconds: float | None = None

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Around the call that applies the update (the tutor's turn)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds = time.perf_counter() - start

    def outcome(self, outcome: str) -> None:
        self.result = _RESULTS.get(outcome, "applied")


@contextmanager
def counted(channel: str) -> Iterator[Tally]:
    """Count one incoming update in UPDATES, and its turn's time in TURN_SECONDS.

    An exception is counted too: one with a 4xx `status_code` (a wrong secret, a malformed or
    oversized body) as rejected, PostgreSQL or Redis out of reach as unavailable, any other as
    error. Only turns (applied, duplicate or failed) are timed in TURN_SECONDS: an ignored or
    rejected update would only dilute it.
    """
    tally = Tally(channel)
    try:
        yield tally
    except Exception as error:
        status = getattr(error, "status_code", 500)
        if isinstance(status, int) and 400 <= status < 500:
            tally.result = "rejected"
        else:
            tally.result = "unavailable" if unreachable(error) else "error"
        raise
    finally:
        result = tally.result or "applied"
        UPDATES.labels(channel, result).inc()
        if tally.seconds is not None and result in ("applied", "duplicate", "error"):
            TURN_SECONDS.labels(channel).observe(tally.seconds)

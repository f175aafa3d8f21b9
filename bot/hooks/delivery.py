"""The delivery worker: sends pending webhook deliveries after their transaction committed.

Deliveries are claimed with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one process) and
leased: a claimed one stays pending with `next_attempt_at` LEASE ahead, so a worker that dies
mid-send leaves it to be claimed again, and a learner's later deliveries keep waiting behind it.
Only a learner's oldest pending delivery to a subscription can be claimed: order is kept per
learner and subscription. Network errors, timeouts, 5xx and 429 are retried after 30 s, 1 min,
2 min … (at most 1 h apart) until 24 h after the event, then the delivery is failed; other
answers fail it at once. A subscription whose deliveries have all failed for 3 days is paused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from bot.hooks import guard, signing
from bot.hooks.events import LESSON_EVENTS, learner_key
from bot.hooks.publisher import forget_subscriptions
from bot.outages import log_failure
from bot.store.db import Database, UnitOfWork
from bot.store.models import PlatformToken, WebhookDelivery, WebhookSubscription
from bot.store.repositories import dialect_insert

log = logging.getLogger(__name__)

TIMEOUT_SECONDS: Final = 10.0
LEASE: Final = timedelta(seconds=60)
"""How long a claimed delivery is another worker's; more than a send can take."""
BATCH: Final = 20
FIRST_RETRY: Final = timedelta(seconds=30)
MAX_RETRY: Final = timedelta(hours=1)
GIVE_UP: Final = timedelta(hours=24)
PAUSE_AFTER: Final = timedelta(days=3)
KEEP_DONE: Final = timedelta(days=7)
"""Delivered and skipped deliveries are deleted after this; failed ones after KEEP_FAILED."""
KEEP_FAILED: Final = timedelta(days=30)
HOUSEKEEPING: Final = timedelta(minutes=1)
ID_SECRET_ROW: Final = "webhooks:learner-ids"  # noqa: S105 -- a row name, not a secret
"""The platform_tokens row that keeps the learner-id secret when no setting gives one."""

PauseHook = Callable[[UnitOfWork, WebhookSubscription, datetime], Awaitable[None]]


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … at most 1 h."""
    wait: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(wait, MAX_RETRY)


@dataclass(frozen=True)
class Result:
    delivered: bool
    retry: bool = False
    """A network error, a timeout, 5xx or 429: worth trying again."""
    error: str | None = None
    status: int | None = None


@dataclass(frozen=True)
class Claimed:
    id: int
    url: str
    secret: str
    module: str | None
    """The subscription's module filter."""
    subscription_id: int
    event_id: str
    learner_id: int
    type: str
    body: dict[str, Any]
    attempts: int
    created_at: datetime


class WebhookSender:
    """Signs and posts one event: the target checked and pinned, no redirects, 10 s."""

    def __init__(
        self,
        *,
        allow_private: bool,
        development: bool,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.development = development
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            follow_redirects=False, timeout=timeout, transport=transport, trust_env=False
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def check(self, url: str) -> guard.Target:
        """Raise guard.Refused (not allowed) or LookupError (no address) for a bad target."""
        return await guard.resolve(
            url, allow_private=self.allow_private, development=self.development
        )

    async def send(self, url: str, secret: str, event_id: str, body: bytes, at: int) -> Result:
        try:
            target = await self.check(url)
        except guard.Refused as refused:
            return Result(False, error=f"refused: {refused}")
        except LookupError as missing:
            return Result(False, retry=True, error=str(missing))
        request_url = httpx.URL(url)
        headers = signing.headers(secret, event_id, at, body)
        headers["Host"] = request_url.netloc.decode("ascii")
        # Connect to the address just checked; the name stays for Host, SNI and the certificate.
        pinned = request_url.copy_with(host=str(target.address))
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            async with asyncio.timeout(self.timeout * 2):  # a body dripping slowly ends too
                response = await self._client.post(
                    pinned, content=body, headers=headers, extensions=extensions
                )
        except (httpx.TimeoutException, TimeoutError):
            return Result(False, retry=True, error=f"timed out after {self.timeout:g} s")
        except httpx.HTTPError as failure:
            return Result(False, retry=True, error=f"{type(failure).__name__}: {failure}"[:500])
        code = response.status_code
        if 200 <= code < 300:
            return Result(True, status=code)
        if code == 429 or code >= 500:
            return Result(False, retry=True, error=f"HTTP {code}", status=code)
        if 300 <= code < 400:
            where = response.headers.get("location", "")[:200]
            return Result(
                False, error=f"HTTP {code} redirect to {where!r}, not followed", status=code
            )
        return Result(False, error=f"HTTP {code}", status=code)


def render(claimed: Claimed, id_secret: str, module_of: Callable[[str], str | None]) -> bytes:
    """The exact bytes sent: the stored event with the pseudonymous learner id (and, for a
    lesson's event, its module) added; the same bytes on every attempt."""
    body = dict(claimed.body)
    about = body.get("learner")
    if isinstance(about, dict):
        body["learner"] = {"id": learner_key(id_secret, claimed.learner_id), **about}
    data = dict(body.get("data") or {})
    lesson = data.get("lesson")
    if claimed.type in LESSON_EVENTS and isinstance(lesson, str) and "module" not in data:
        data["module"] = module_of(lesson)
    body["data"] = data
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class Deliveries:
    """Claims due deliveries, sends them, and records how it went."""

    def __init__(
        self,
        *,
        database: Database,
        sender: WebhookSender,
        clock: Callable[[], datetime],
        module_of: Callable[[str], str | None],
        id_secret: str | None = None,
        on_pause: PauseHook | None = None,
    ) -> None:
        self.database = database
        self.sender = sender
        self.clock = clock
        self.module_of = module_of
        """A lesson's module in the library being taught now."""
        self._id_secret = id_secret or None
        self.on_pause = on_pause
        self._housekept: datetime | None = None

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Until `stop`: send what is due; poll every `idle` seconds when nothing is."""
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception as error:  # a bad cycle must not end the loop; logged and retried
                log_failure(log, "webhook deliveries cycle failed", error)
                done = 0
            if done:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), idle)

    async def run_once(self) -> int:
        """One cycle: housekeeping when due, then one batch; returns deliveries attempted."""
        now = self.clock()
        if self._housekept is None or now - self._housekept >= HOUSEKEEPING:
            self._housekept = now
            await self.pause_failing(now)
            await self.prune(now)
        claimed = await self.claim(now)
        if claimed:
            secret = await self.id_secret()
            await asyncio.gather(*(self.process(one, secret) for one in claimed))
        return len(claimed)

    async def id_secret(self) -> str:
        """The learner-id secret: the setting, else one made once and kept in the database."""
        if self._id_secret is not None:
            return self._id_secret
        async with self.database.unit_of_work() as uow:
            await uow.session.execute(
                dialect_insert(uow.session, PlatformToken)
                .values(
                    name=ID_SECRET_ROW,
                    access_token=secrets.token_urlsafe(32),
                    refresh_token="",
                    counter=0,
                    updated_at=self.clock(),
                )
                .on_conflict_do_nothing(index_elements=["name"])
            )
            secret = await uow.session.scalar(
                select(PlatformToken.access_token).where(PlatformToken.name == ID_SECRET_ROW)
            )
            await uow.commit()
        assert secret  # noqa: S101 -- inserted just now or before
        self._id_secret = secret
        return secret

    async def claim(self, now: datetime) -> list[Claimed]:
        """Lease the due deliveries that are the oldest pending of their learner and
        subscription, on active subscriptions."""
        earlier = aliased(WebhookDelivery)
        async with self.database.unit_of_work() as uow:
            rows = (
                await uow.session.execute(
                    select(WebhookDelivery, WebhookSubscription)
                    .join(
                        WebhookSubscription,
                        WebhookSubscription.id == WebhookDelivery.subscription_id,
                    )
                    .where(
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                        WebhookSubscription.status == "active",
                        ~exists().where(
                            earlier.subscription_id == WebhookDelivery.subscription_id,
                            earlier.learner_id == WebhookDelivery.learner_id,
                            earlier.status == "pending",
                            earlier.id < WebhookDelivery.id,
                        ),
                    )
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True, of=WebhookDelivery)
                )
            ).all()
            claimed = []
            for delivery, subscription in rows:
                delivery.attempts += 1
                delivery.next_attempt_at = now + LEASE
                claimed.append(
                    Claimed(
                        id=delivery.id,
                        url=subscription.url,
                        secret=subscription.secret,
                        module=subscription.module,
                        subscription_id=subscription.id,
                        event_id=delivery.event_id,
                        learner_id=delivery.learner_id,
                        type=delivery.type,
                        body=dict(delivery.body),
                        attempts=delivery.attempts,
                        created_at=delivery.created_at,
                    )
                )
            await uow.commit()
        return claimed

    async def process(self, claimed: Claimed, id_secret: str) -> Result | None:
        lesson = claimed.body.get("data", {}).get("lesson")
        if (
            claimed.module is not None
            and claimed.type in LESSON_EVENTS
            and isinstance(lesson, str)
            and self.module_of(lesson) != claimed.module
        ):
            await self._finish(claimed, "skipped", None, f"not about module {claimed.module}")
            return None
        body = render(claimed, id_secret, self.module_of)
        at = int(self.clock().timestamp())
        try:
            result = await self.sender.send(claimed.url, claimed.secret, claimed.event_id, body, at)
        except Exception as failure:  # a surprise is retried like a network error, and logged
            log.exception("webhook delivery %s failed unexpectedly", claimed.id)
            result = Result(False, retry=True, error=f"{type(failure).__name__}: {failure}"[:500])
        now = self.clock()
        if result.delivered:
            await self._finish(claimed, "delivered", now, None)
        elif result.retry and now - claimed.created_at < GIVE_UP:
            await self._finish(
                claimed, "pending", None, result.error, now + backoff(claimed.attempts)
            )
        else:
            await self._finish(claimed, "failed", None, result.error)
        if not result.delivered:
            log.warning(
                "webhook delivery %s (%s) to subscription %s: %s",
                claimed.id,
                claimed.type,
                claimed.subscription_id,
                result.error,
            )
        return result

    async def _finish(
        self,
        claimed: Claimed,
        status: str,
        delivered_at: datetime | None,
        error: str | None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        now = self.clock()
        values: dict[str, Any] = {"status": status, "last_error": error and error[:500]}
        if delivered_at is not None:
            values["delivered_at"] = delivered_at
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        async with self.database.unit_of_work() as uow:
            # Only the lease holder writes: a worker whose lease ran out changes nothing.
            changed = await uow.session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == claimed.id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.attempts == claimed.attempts,
                )
                .values(values)
            )
            if changed.rowcount and status != "skipped":  # type: ignore[attr-defined]
                subscription = update(WebhookSubscription).where(
                    WebhookSubscription.id == claimed.subscription_id
                )
                if status == "delivered":
                    subscription = subscription.values(
                        failing_since=None, last_error=None, last_delivered_at=now
                    )
                else:
                    subscription = subscription.values(
                        failing_since=func.coalesce(WebhookSubscription.failing_since, now),
                        last_error=(error or "")[:500],
                    )
                await uow.session.execute(subscription)
            await uow.commit()

    async def pause_failing(self, now: datetime) -> int:
        """Pause the subscriptions whose deliveries have all failed for PAUSE_AFTER, telling
        their owners (on_pause: the audit log)."""
        async with self.database.unit_of_work() as uow:
            rows = (
                await uow.session.scalars(
                    select(WebhookSubscription)
                    .where(
                        WebhookSubscription.status == "active",
                        WebhookSubscription.failing_since <= now - PAUSE_AFTER,
                    )
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                row.status = "paused"
                row.paused_reason = (
                    f"every delivery failed since {row.failing_since:%Y-%m-%d %H:%M} UTC; "
                    f"last error: {row.last_error or '-'}"
                )[:300]
                if self.on_pause is not None:
                    await self.on_pause(uow, row, now)
                log.warning("webhook subscription %s paused: %s", row.id, row.paused_reason)
            await uow.commit()
        if rows:
            forget_subscriptions()
        return len(rows)

    async def prune(self, now: datetime) -> None:
        """Delete old history: delivered and skipped after KEEP_DONE, failed after KEEP_FAILED."""
        async with self.database.unit_of_work() as uow:
            await uow.session.execute(
                delete(WebhookDelivery).where(
                    or_(
                        and_(
                            WebhookDelivery.status.in_(("delivered", "skipped")),
                            WebhookDelivery.created_at < now - KEEP_DONE,
                        ),
                        and_(
                            WebhookDelivery.status == "failed",
                            WebhookDelivery.created_at < now - KEEP_FAILED,
                        ),
                    )
                )
            )
            await uow.commit()

"""Admin API: event webhooks, organisations' systems that receive learners' events as they happen.

An admin subscribes a URL to event types, optionally only for one province, school or module; a
viewer only for their own place, and never with names. The signing secret is shown once, when
the subscription is made. Deliveries are written in the transaction of what they tell and sent
by every process's upkeep (bot/hooks/delivery.py), signed, retried for 24 hours.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import ConfigDict, Field, field_validator
from sqlalchemy import ColumnElement, and_, func, select, true

from admin import audit
from admin.auth import AdminOrViewer, Principal, runtime_of
from admin.learners import (
    MAX_ID,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    Documented,
    PlainText,
    check_place,
    province_code,
    school_key_of,
)
from bot.hooks import guard, signing
from bot.hooks.delivery import Deliveries, Result, WebhookSender
from bot.hooks.events import PUBLIC_TYPES, TEST_TYPE, PublicType, envelope, new_id
from bot.hooks.publisher import forget_subscriptions
from bot.store.db import UnitOfWork
from bot.store.models import WebhookDelivery, WebhookSubscription
from bot.wiring import Runtime

router = APIRouter(tags=["webhooks"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such subscription in the caller's scope"}
}


# --- requests and responses ---------------------------------------------------------------------


class SubscriptionRequest(Documented):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    url: Annotated[str, Field(min_length=8, max_length=2000)]
    """Where events are POSTed: https (http only to localhost, in development); never a
    private or loopback address unless the deployment allows it."""
    events: Annotated[list[PublicType], Field(min_length=1, max_length=len(PUBLIC_TYPES))]
    """The event types wanted."""
    province: Annotated[PlainText, Field(min_length=1, max_length=60)] | None = None
    """Only learners of this province (a code or a name); a viewer's own province by default."""
    school: Annotated[PlainText, Field(min_length=1, max_length=120)] | None = None
    """Only learners of this school; accents, case and punctuation do not matter."""
    module: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """Only events about this module (lessons, module completions, certificates); events about
    no module (registered, joined, erased) still come."""
    include_names: bool = False
    """Events carry the learner's display name: admins only."""

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: list[PublicType]) -> list[PublicType]:
        return list(dict.fromkeys(value))


class SubscriptionOut(Documented):
    id: int
    url: str
    events: list[str]
    province: str | None
    school: str | None
    school_key: str | None
    module: str | None
    include_names: bool
    status: Literal["active", "paused"]
    paused_reason: str | None
    owner: str
    created_at: datetime
    failing_since: datetime | None
    """The first failed attempt since the last delivery that went through; after 3 days of
    failures the subscription is paused."""
    last_error: str | None
    last_delivered_at: datetime | None
    pending: int
    """Deliveries waiting to be sent (or retried)."""
    failed: int
    """Deliveries given up after 24 hours of retries, or refused by the receiver."""


class CreatedSubscription(SubscriptionOut):
    secret: str
    """Signs every delivery (Camtay-Signature); shown only now: keep it."""


class SubscriptionPage(Documented):
    items: list[SubscriptionOut]
    next: int | None
    """Pass as `before` for the next (older) page; null on the last page."""


class DeliveryOut(Documented):
    id: int
    event_id: str
    type: str
    status: Literal["pending", "delivered", "failed", "skipped"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(Documented):
    items: list[DeliveryOut]
    next: int | None


class TestResult(Documented):
    delivered: bool
    """The receiver answered 2xx."""
    status: int | None
    """The receiver's HTTP status, if it answered."""
    error: str | None
    event_id: str


# --- helpers ------------------------------------------------------------------------------------


def visible(who: Principal) -> ColumnElement[bool]:
    """Subscriptions inside the caller's scope: a viewer never sees an admin's nationwide one."""
    if who.province is None:
        return true()
    condition = WebhookSubscription.province == who.province
    if who.school_key is not None:
        condition = and_(condition, WebhookSubscription.school_key == who.school_key)
    return condition


async def find(uow: UnitOfWork, who: Principal, subscription_id: int) -> WebhookSubscription:
    row = await uow.session.scalar(
        select(WebhookSubscription).where(WebhookSubscription.id == subscription_id, visible(who))
    )
    if row is None:
        raise HTTPException(404, "no such subscription")
    return row


async def tallies(uow: UnitOfWork, ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {one: {"pending": 0, "failed": 0} for one in ids}
    if ids:
        rows = await uow.session.execute(
            select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
            .where(
                WebhookDelivery.subscription_id.in_(ids),
                WebhookDelivery.status.in_(("pending", "failed")),
            )
            .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status)
        )
        for subscription_id, status, number in rows.all():
            found[subscription_id][status] = int(number)
    return found


def out(row: WebhookSubscription, tally: dict[str, int]) -> SubscriptionOut:
    return SubscriptionOut(
        id=row.id,
        url=row.url,
        events=list(row.events),
        province=row.province,
        school=row.school,
        school_key=row.school_key,
        module=row.module,
        include_names=row.include_names and row.role == "admin",
        status="paused" if row.status == "paused" else "active",
        paused_reason=row.paused_reason,
        owner=row.owner,
        created_at=row.created_at,
        failing_since=row.failing_since,
        last_error=row.last_error,
        last_delivered_at=row.last_delivered_at,
        pending=tally.get("pending", 0),
        failed=tally.get("failed", 0),
    )


def sender(runtime: Runtime) -> WebhookSender:
    settings = runtime.settings
    return WebhookSender(
        allow_private=settings.webhooks_allow_private,
        development=settings.environment == "development",
    )


# --- routes -------------------------------------------------------------------------------------


@router.post(
    "/webhooks",
    response_model=CreatedSubscription,
    status_code=201,
    responses={422: {"description": "a bad URL, a refused address, an unknown place or module"}},
)
async def subscribe(
    request: Request, who: AdminOrViewer, body: SubscriptionRequest
) -> CreatedSubscription:
    """Subscribe a URL to event types; the answer holds the signing secret, shown only now.

    A viewer's subscription is kept to their province (or school) and never carries names.
    """
    runtime = runtime_of(request)
    province = None if body.province is None else province_code(body.province)
    school_key = None if body.school is None else school_key_of(body.school)
    check_place(who, province, school_key)
    if who.scoped:  # a viewer's events never leave their place
        province = province or who.province
        school_key = school_key or who.school_key
    if school_key is not None and province is None:
        raise HTTPException(422, "a school filter needs its province too")
    if body.include_names and who.role != "admin":
        raise HTTPException(403, "only admins may receive learners' names")
    if body.module is not None and runtime.catalog.module(body.module) is None:
        raise HTTPException(422, f"no module {body.module!r}")
    check = sender(runtime)
    try:
        await check.check(body.url)
    except guard.Refused as refused:
        raise HTTPException(422, f"this URL is refused: {refused}") from refused
    except LookupError as missing:
        raise HTTPException(422, str(missing)) from missing
    finally:
        await check.close()
    now = runtime.tutor.clock()
    secret = signing.new_secret()
    async with runtime.database.unit_of_work() as uow:
        row = WebhookSubscription(
            url=body.url,
            events=list(body.events),
            province=province,
            school_key=school_key,
            school=body.school or (who.school if school_key is not None else None),
            module=body.module,
            include_names=body.include_names,
            secret=secret,
            status="active",
            token_id=who.token_id,
            owner=who.name,
            role=who.role,
            created_at=now,
        )
        uow.session.add(row)
        await uow.session.flush()
        await audit.record(
            uow,
            who,
            "webhook.subscribe",
            now,
            subscription_id=row.id,
            url=row.url,
            events=row.events,
            province=province,
            school_key=school_key,
            module=row.module,
            include_names=row.include_names,
        )
        await uow.commit()
    forget_subscriptions()
    return CreatedSubscription(**out(row, {}).model_dump(), secret=secret)


@router.get("/webhooks", response_model=SubscriptionPage)
async def list_subscriptions(
    request: Request,
    who: AdminOrViewer,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the last id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> SubscriptionPage:
    """Subscriptions in the caller's scope, newest first, with pending and failed counts."""
    query = select(WebhookSubscription).where(visible(who))
    if before is not None:
        query = query.where(WebhookSubscription.id < before)
    async with runtime_of(request).database.unit_of_work() as uow:
        rows = list(
            (
                await uow.session.scalars(
                    query.order_by(WebhookSubscription.id.desc()).limit(limit + 1)
                )
            ).all()
        )
        more = len(rows) > limit
        rows = rows[:limit]
        counts = await tallies(uow, [row.id for row in rows])
    return SubscriptionPage(
        items=[out(row, counts[row.id]) for row in rows], next=rows[-1].id if more else None
    )


SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/webhooks/{subscription_id}", response_model=SubscriptionOut, responses=NOT_FOUND)
async def get_subscription(
    request: Request, who: AdminOrViewer, subscription_id: SubscriptionId
) -> SubscriptionOut:
    """One subscription: its state, last error and deliveries pending and failed."""
    async with runtime_of(request).database.unit_of_work() as uow:
        row = await find(uow, who, subscription_id)
        counts = await tallies(uow, [row.id])
    return out(row, counts[row.id])


@router.get(
    "/webhooks/{subscription_id}/deliveries", response_model=DeliveryPage, responses=NOT_FOUND
)
async def list_deliveries(
    request: Request,
    who: AdminOrViewer,
    subscription_id: SubscriptionId,
    status: Literal["pending", "delivered", "failed", "skipped"] | None = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the last id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> DeliveryPage:
    """A subscription's deliveries, newest first, with attempts and the last error (delivered
    ones are kept 7 days, failed ones 30)."""
    async with runtime_of(request).database.unit_of_work() as uow:
        await find(uow, who, subscription_id)
        query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        if before is not None:
            query = query.where(WebhookDelivery.id < before)
        rows = list(
            (
                await uow.session.scalars(
                    query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)
                )
            ).all()
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(
        items=[DeliveryOut.model_validate(row, from_attributes=True) for row in rows],
        next=rows[-1].id if more else None,
    )


async def _set_status(
    request: Request, who: Principal, subscription_id: int, status: str
) -> SubscriptionOut:
    runtime = runtime_of(request)
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        row = await find(uow, who, subscription_id)
        row.status = status
        row.paused_reason = f"paused by {who.name}"[:300] if status == "paused" else None
        if status == "active":
            row.failing_since = None  # three more days before it is paused again
        await audit.record(
            uow,
            who,
            f"webhook.{'pause' if status == 'paused' else 'resume'}",
            now,
            subscription_id=row.id,
        )
        counts = await tallies(uow, [row.id])
        await uow.commit()
    forget_subscriptions()
    return out(row, counts[row.id])


@router.post(
    "/webhooks/{subscription_id}/pause", response_model=SubscriptionOut, responses=NOT_FOUND
)
async def pause(
    request: Request, who: AdminOrViewer, subscription_id: SubscriptionId
) -> SubscriptionOut:
    """Stop sending: nothing is sent and no new event is kept for it while paused; deliveries
    already pending wait and go on resume."""
    return await _set_status(request, who, subscription_id, "paused")


@router.post(
    "/webhooks/{subscription_id}/resume", response_model=SubscriptionOut, responses=NOT_FOUND
)
async def resume(
    request: Request, who: AdminOrViewer, subscription_id: SubscriptionId
) -> SubscriptionOut:
    """Send again, from the events that happen from now on (and those left pending)."""
    return await _set_status(request, who, subscription_id, "active")


@router.delete("/webhooks/{subscription_id}", status_code=204, responses=NOT_FOUND)
async def unsubscribe(
    request: Request, who: AdminOrViewer, subscription_id: SubscriptionId
) -> None:
    """Delete the subscription and its deliveries."""
    runtime = runtime_of(request)
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        row = await find(uow, who, subscription_id)
        await audit.record(uow, who, "webhook.delete", now, subscription_id=row.id, url=row.url)
        await uow.session.delete(row)
        await uow.commit()
    forget_subscriptions()


@router.post("/webhooks/{subscription_id}/test", response_model=TestResult, responses=NOT_FOUND)
async def send_test(
    request: Request, who: AdminOrViewer, subscription_id: SubscriptionId
) -> TestResult:
    """Send a signed `webhook.test` event now (even while paused) and say how it went."""
    runtime = runtime_of(request)
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        row = await find(uow, who, subscription_id)
        url, secret = row.url, row.secret
    event_id = new_id()
    body = envelope(event_id, TEST_TYPE, now, None, {"subscription": subscription_id})
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    check = sender(runtime)
    try:
        result: Result = await check.send(url, secret, event_id, raw, int(now.timestamp()))
    finally:
        await check.close()
    return TestResult(
        delivered=result.delivered, status=result.status, error=result.error, event_id=event_id
    )


# --- the delivery loop --------------------------------------------------------------------------


async def tell_owner(uow: UnitOfWork, row: WebhookSubscription, now: datetime) -> None:
    """The audit entry that tells a subscription's owner it was paused for failing."""
    owner = Principal(
        token_id=row.token_id,
        name="camtay webhooks",
        role="admin" if row.role == "admin" else "viewer",
        province=row.province if row.role != "admin" else None,
        school_key=row.school_key if row.role != "admin" else None,
        school=row.school if row.role != "admin" else None,
    )
    await audit.record(
        uow,
        owner,
        "webhook.paused",
        now,
        subscription_id=row.id,
        url=row.url,
        owner=row.owner,
        reason=row.paused_reason,
    )


def deliveries(runtime: Runtime, sending: WebhookSender) -> Deliveries:
    def module_of(lesson_id: str) -> str | None:
        module = runtime.catalog.module_of(lesson_id)  # the library taught now
        return None if module is None else module.id

    secret = runtime.settings.webhook_id_secret
    return Deliveries(
        database=runtime.database,
        sender=sending,
        clock=runtime.tutor.clock,
        module_of=module_of,
        id_secret=secret.get_secret_value() if secret is not None else None,
        on_pause=tell_owner,
    )


async def deliver(runtime: Runtime, stop: asyncio.Event) -> None:
    """Send webhook deliveries until `stop` (every process's upkeep runs this)."""
    sending = sender(runtime)
    try:
        await deliveries(runtime, sending).run(stop)
    finally:
        await sending.close()

"""Writing deliveries in the transaction of what they tell (a transactional outbox).

`EventRepository.append` calls `publish` with every event it stores, so a turn's lesson, the
community's referrals and the rest reach subscribers exactly when they commit, and never when
they roll back. A turn without a publishable event costs nothing; one with such an event reads
the active subscriptions from a per-process cache that is at most CACHE_SECONDS old (a
subscription made, paused or deleted in another process applies to events written there after
that delay; the delivery worker checks the subscription's status again before every send).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.types import Event
from bot.hooks.events import SOURCES, PublicEvent, envelope, public
from bot.store.models import ConversationState, Learner, WebhookDelivery, WebhookSubscription

if TYPE_CHECKING:
    from bot.store.db import UnitOfWork

CACHE_SECONDS: Final = 5.0


@dataclass(frozen=True)
class Subscriber:
    """What matching needs of an active subscription, detached from any session."""

    id: int
    events: frozenset[str]
    province: str | None
    school_key: str | None
    module: str | None
    names: bool
    """Events carry the learner's display name (an admin's subscription that asked)."""

    def wants(self, event: PublicEvent, learner: Learner | None) -> bool:
        if event.type not in self.events:
            return False
        if self.module is not None and event.module not in (None, self.module):
            return False  # a lesson's module is known when it is sent: checked there
        if self.province is None:
            return True
        if learner is None or learner.province != self.province:
            return False
        return self.school_key is None or learner.school_key == self.school_key


_cache: weakref.WeakKeyDictionary[Engine, tuple[float, tuple[Subscriber, ...]]] = (
    weakref.WeakKeyDictionary()
)


def forget_subscriptions() -> None:
    """Drop this process's cache (after a subscription changed here)."""
    _cache.clear()


async def subscribers(session: AsyncSession) -> tuple[Subscriber, ...]:
    """The active subscriptions, read at most every CACHE_SECONDS per database and process."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # noqa: S101 -- sessions are bound to one engine
    cached = _cache.get(engine)
    now = time.monotonic()
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    rows = (
        await session.execute(
            select(
                WebhookSubscription.id,
                WebhookSubscription.events,
                WebhookSubscription.province,
                WebhookSubscription.school_key,
                WebhookSubscription.module,
                WebhookSubscription.include_names,
                WebhookSubscription.role,
            ).where(WebhookSubscription.status == "active")
        )
    ).all()
    found = tuple(
        Subscriber(
            id=row.id,
            events=frozenset(row.events),
            province=row.province,
            school_key=row.school_key,
            module=row.module,
            names=bool(row.include_names) and row.role == "admin",
        )
        for row in rows
    )
    _cache[engine] = (now, found)
    return found


async def publish(
    session: AsyncSession, person: int, events: Sequence[Event], now: datetime
) -> int:
    """Queue the public events among `events` for every subscription that wants them; the
    deliveries commit (or roll back) with the caller's transaction. Returns how many."""
    if not any(event.type in SOURCES for event in events):
        return 0
    subscriptions = await subscribers(session)
    if not subscriptions:
        return 0
    checks: dict[str, Any] | None = None
    if any(event.type == "check.completed" for event in events):
        # The turn saved the state just before, in this transaction (rare: a message checked
        # while a subscription listens).
        state = await session.get(ConversationState, person)
        checks = dict(state.state.get("checks", {})) if state is not None else {}
    published = [found for event in events if (found := public(event, checks)) is not None]
    if not any(event.type in s.events for event in published for s in subscriptions):
        return 0
    learner = await session.get(Learner, person)  # the turn's own row: no query
    rows = []
    for event in published:
        for subscription in subscriptions:
            if not subscription.wants(event, learner):
                continue
            about: dict[str, Any] = {
                "province": learner.province if learner is not None else None,
                "school_key": learner.school_key if learner is not None else None,
            }
            if subscription.names:
                about["name"] = learner.display_name if learner is not None else None
            rows.append(
                WebhookDelivery(
                    subscription_id=subscription.id,
                    event_id=event.id,
                    learner_id=person,
                    type=event.type,
                    body=envelope(event.id, event.type, now, about, event.data),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    session.add_all(rows)
    await session.flush()
    return len(rows)


async def publish_erased(uow: UnitOfWork, person: int, now: datetime) -> int:
    """Tell subscribers a learner erased their data, so they erase theirs too.

    Call it in the erasing transaction, before the learner's rows go: the event carries only
    the pseudonymous id (and its deliveries outlive the learner). The learner's deliveries
    already sent or given up are deleted; pending ones still go, in order, before this one.
    """
    await uow.session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.learner_id == person, WebhookDelivery.status != "pending"
        )
    )
    return await publish(uow.session, person, [Event(type="learner.erased")], now)

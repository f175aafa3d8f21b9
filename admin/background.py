"""Keeping every process current: the lesson library, broadcasts, reminders, report rollups."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import func, select

from admin.broadcasts import resume
from admin.content import follow
from admin.rollups import refresh_rollups, refreshed_at
from admin.webhooks import deliver
from bot import privacy
from bot.observability import OUTBOX_DEPTH
from bot.outages import log_failure
from bot.reminders import send_due
from bot.store.models import OutboxMessage
from bot.wiring import Runtime

log = logging.getLogger(__name__)
CONTENT_CHECK_SECONDS = 30.0
WAITING = ("pending", "held")
"""The outbox statuses OUTBOX_DEPTH counts."""


async def measure_outbox(runtime: Runtime) -> dict[str, int]:
    """Set OUTBOX_DEPTH for each waiting status (0 when none): one grouped count that the
    status-leading index answers."""
    async with runtime.database.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.status.in_(WAITING))
            .group_by(OutboxMessage.status)
        )
        counts = {status: int(count) for status, count in rows.all()}
    depth = {status: counts.get(status, 0) for status in WAITING}
    for status, count in depth.items():
        OUTBOX_DEPTH.labels(status).set(count)
    return depth


async def refresh_if_stale(runtime: Runtime) -> bool:
    """Recompute the rollups when they are older than the configured interval."""
    interval = runtime.settings.report_refresh_seconds
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        as_of = await refreshed_at(uow.session)
    if as_of is not None and (now - as_of).total_seconds() < interval:
        return False
    return await refresh_rollups(runtime.database, runtime.catalog, now)


async def keep_private(runtime: Runtime) -> None:
    """Remove the bare rows of erased learners once their goodbye is sent, and make events
    older than the retention period anonymous."""
    now = runtime.tutor.clock()
    await privacy.purge_erased(runtime.database, now)
    await privacy.anonymise_events(runtime.database, now, runtime.settings.event_retention_days)


async def keep_current(runtime: Runtime, stop: asyncio.Event) -> None:
    """Until `stop`: follow library reloads, finish broadcasts left half-queued, send the daily
    reminders that are due, refresh stale rollups (one process at a time), measure the outbox
    for the metrics, and keep to the privacy rules (`keep_private`); event webhooks are sent
    by a task of their own, every second."""
    webhooks = asyncio.create_task(deliver(runtime, stop), name="webhook-deliveries")
    while not stop.is_set():
        try:
            await measure_outbox(runtime)
        except Exception as error:  # metrics must never stop the upkeep itself
            log_failure(log, "measuring the outbox failed", error)
        try:
            await follow(runtime)
            await resume(runtime)
            if await send_due(runtime.database, runtime.catalog, runtime.tutor.clock()):
                runtime.worker.notify()
            if runtime.settings.report_refresh_seconds > 0:
                await refresh_if_stale(runtime)
        except Exception as error:  # a bad cycle must not end the loop; logged and retried
            log_failure(log, "background admin upkeep failed", error)
        try:
            await keep_private(runtime)
        except Exception as error:  # retried at the next cycle
            log_failure(log, "privacy upkeep failed", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CONTENT_CHECK_SECONDS)
    await webhooks

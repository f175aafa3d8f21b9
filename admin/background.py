"""Keeping every process current: the lesson library, broadcasts, reminders, report rollups."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from admin.broadcasts import resume
from admin.content import follow
from admin.rollups import refresh_rollups, refreshed_at
from bot.reminders import send_due
from bot.wiring import Runtime

log = logging.getLogger(__name__)
CONTENT_CHECK_SECONDS = 30.0


async def refresh_if_stale(runtime: Runtime) -> bool:
    """Recompute the rollups when they are older than the configured interval."""
    interval = runtime.settings.report_refresh_seconds
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        as_of = await refreshed_at(uow.session)
    if as_of is not None and (now - as_of).total_seconds() < interval:
        return False
    return await refresh_rollups(runtime.database, runtime.catalog, now)


async def keep_current(runtime: Runtime, stop: asyncio.Event) -> None:
    """Until `stop`: follow library reloads, finish broadcasts left half-queued, send the daily
    reminders that are due, and refresh stale rollups (one process at a time)."""
    while not stop.is_set():
        try:
            await follow(runtime)
            await resume(runtime)
            if await send_due(runtime.database, runtime.catalog, runtime.tutor.clock()):
                runtime.worker.notify()
            if runtime.settings.report_refresh_seconds > 0:
                await refresh_if_stale(runtime)
        except Exception:  # a bad cycle must not end the loop; it is logged and retried
            log.exception("background admin upkeep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CONTENT_CHECK_SECONDS)

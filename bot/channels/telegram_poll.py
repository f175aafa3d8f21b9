"""Long polling for development: getUpdates feeds the same handler the webhook uses."""

from __future__ import annotations

import asyncio
import logging

from aiogram.exceptions import TelegramAPIError
from aiogram.utils.backoff import Backoff, BackoffConfig

from bot.outages import log_failure
from bot.wiring import Runtime

log = logging.getLogger(__name__)


async def poll(runtime: Runtime, allowed_updates: list[str], long_poll: int = 30) -> None:
    """Fetch updates until cancelled; an update is confirmed only after it was applied."""
    telegram = runtime.telegram
    assert telegram is not None  # noqa: S101 -- the caller checked
    bot = telegram.channel.bot
    await bot.delete_webhook(drop_pending_updates=False)
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.worker.run(stop))
    backoff = Backoff(BackoffConfig(min_delay=1.0, max_delay=30.0, factor=1.6, jitter=0.1))
    offset: int | None = None
    me = await bot.get_me()
    log.info("polling Telegram as @%s", me.username)
    try:
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=long_poll, allowed_updates=allowed_updates
                )
            except TelegramAPIError as error:
                log.warning("getUpdates failed: %s", error)
                await backoff.asleep()
                continue
            backoff.reset()
            for update in updates:
                try:
                    await telegram.channel.handle(update)
                except Exception as error:
                    # Not confirmed: the next getUpdates returns it again.
                    log_failure(log, f"update {update.update_id} failed; will retry", error)
                    await backoff.asleep()
                    break
                offset = update.update_id + 1
    finally:
        stop.set()
        await worker

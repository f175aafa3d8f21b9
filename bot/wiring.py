"""Build the running parts from Settings once, at start-up, and close them at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from bot.content import ASSETS_DIR, load_catalog
from bot.engine import Catalog, Engine
from bot.locks import LearnerLocks, MemoryLocks, RedisLocks
from bot.service import Sender, Tutor
from bot.settings import Settings
from bot.store import Database
from bot.store.migrate import upgrade
from bot.worker import OutboxWorker

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel, TelegramSender


@dataclass
class Telegram:
    """The Telegram channel's parts; present only when a bot token is configured."""

    channel: TelegramChannel
    sender: TelegramSender

    async def close(self) -> None:
        await self.channel.drain()
        await self.channel.bot.session.close()


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog
    database: Database
    locks: LearnerLocks
    tutor: Tutor
    worker: OutboxWorker
    telegram: Telegram | None = None
    senders: dict[str, Sender] = field(default_factory=dict)

    async def close(self) -> None:
        if self.telegram is not None:
            await self.telegram.close()
        await self.locks.close()
        await self.database.dispose()


def migrate_if_embedded(settings: Settings) -> None:
    """The embedded SQLite default migrates itself; a shared database is migrated by a job."""
    if settings.embedded:
        upgrade(settings.effective_database_url)


def build(settings: Settings, catalog: Catalog | None = None) -> Runtime:
    catalog = catalog or load_catalog(settings.lessons_dir)
    database = Database(settings.effective_database_url)
    locks: LearnerLocks
    if settings.redis_url:
        locks = RedisLocks(
            Redis.from_url(settings.redis_url), timeout=settings.lock_timeout_seconds
        )
    else:
        locks = MemoryLocks(timeout=settings.lock_timeout_seconds)
    tutor = Tutor(engine=Engine(catalog), database=database, locks=locks)
    senders: dict[str, Sender] = {}
    telegram_sender: TelegramSender | None = None
    if settings.telegram_token is not None:
        from bot.channels.telegram import TelegramSender, make_bot

        bot = make_bot(settings.telegram_token.get_secret_value(), settings.telegram_api_url)
        senders["telegram"] = telegram_sender = TelegramSender(
            bot,
            database=database,
            assets=settings.lessons_dir / ASSETS_DIR,
            per_bot=settings.telegram_per_bot_rate,
            per_chat=settings.telegram_per_chat_rate,
            burst=settings.telegram_per_chat_burst,
        )
    worker = OutboxWorker(database=database, locks=locks, senders=senders)
    telegram = None
    if telegram_sender is not None:
        from bot.channels.telegram import TelegramChannel

        channel = TelegramChannel(telegram_sender.bot, tutor, database, on_outbox=worker.notify)
        telegram = Telegram(channel=channel, sender=telegram_sender)
    return Runtime(
        settings=settings,
        catalog=catalog,
        database=database,
        locks=locks,
        tutor=tutor,
        worker=worker,
        telegram=telegram,
        senders=senders,
    )

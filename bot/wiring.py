"""Build the running parts from Settings once, at start-up, and close them at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from redis.asyncio import BlockingConnectionPool, Redis

from bot.ask.service import Assistant
from bot.community import Community, Links
from bot.content import ASSETS_DIR, load_catalog
from bot.engine import Catalog, Engine
from bot.flood import AddressLimits, FloodGate, limits_storage
from bot.llm.client import ModelClient
from bot.llm.guardrails import Guardrails
from bot.llm.jobs import ModelJobs
from bot.locks import (
    LearnerLocks,
    MemoryLocks,
    NoRecentUpdates,
    Pace,
    RecentUpdates,
    RedisLocks,
    RedisPacer,
    RedisRecentUpdates,
    RedisWakeups,
)
from bot.service import Sender, Tutor, utcnow
from bot.settings import Settings
from bot.store import Database
from bot.worker import OutboxWorker

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.channels.telegram import TelegramChannel, TelegramSender


class PushChannel(Protocol):
    """A platform that pushes updates to us and gets replies from the outbox worker."""

    @property
    def sender(self) -> Sender: ...

    async def close(self) -> None: ...


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
    channels: dict[str, PushChannel] = field(default_factory=dict)
    """Push channels by name ("telegram", "zalo_bot", "zalo_oa"), only those configured."""
    model_jobs: ModelJobs | None = None
    """The model worker, when a model is configured (CAMTAY_LLM_*)."""
    content_version: str = ""
    """The lesson library's version this process teaches from, once reloaded by an admin."""
    admin_limits: AddressLimits | None = None
    """Requests to /admin per client address (webhook.app's middleware); None: no limit."""

    @property
    def telegram(self) -> Telegram | None:
        channel = self.channels.get("telegram")
        return channel if isinstance(channel, Telegram) else None

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        if self.model_jobs is not None:
            await self.model_jobs.client.close()
        if isinstance(self.worker.wakeups, RedisWakeups):
            await self.worker.wakeups.close()
        await self.locks.close()
        await self.database.dispose()


def migrate_if_embedded(settings: Settings) -> None:
    """The embedded SQLite default migrates itself; a shared database is migrated by a job."""
    if settings.embedded:
        from bot.store.migrate import upgrade  # Alembic and Mako: only for this (~7 MB)

        upgrade(settings.effective_database_url)


def _telegram(
    settings: Settings,
    tutor: Tutor,
    database: Database,
    notify: Callable[[], None],
    redis: Redis | None,
) -> Telegram:
    from bot.channels.telegram import CHANNEL, TelegramChannel, TelegramSender, make_bot

    assert settings.telegram_token is not None  # noqa: S101 -- the caller checked
    bot = make_bot(settings.telegram_token.get_secret_value(), settings.telegram_api_url)
    # With Redis, every worker counts against the same limits; alone, in-process buckets.
    pace: Pace | None = None
    if redis is not None:
        pace = RedisPacer(
            redis,
            CHANNEL,
            per_bot=settings.telegram_per_bot_rate,
            per_chat=settings.telegram_per_chat_rate,
            burst=settings.telegram_per_chat_burst,
        )
    sender = TelegramSender(
        bot,
        database=database,
        assets=settings.lessons_dir / ASSETS_DIR,
        per_bot=settings.telegram_per_bot_rate,
        per_chat=settings.telegram_per_chat_rate,
        burst=settings.telegram_per_chat_burst,
        pace=pace,
    )
    return Telegram(channel=TelegramChannel(bot, tutor, database, on_outbox=notify), sender=sender)


def build(settings: Settings, catalog: Catalog | None = None) -> Runtime:
    catalog = catalog or load_catalog(settings.lessons_dir)
    database = Database(settings.effective_database_url, settings.database_pool_size)
    # Production: what processes share lives in Redis (one client and pool for all of it).
    # A blocking pool: under overload a turn waits for a connection (back-pressure) instead of
    # failing with MaxConnectionsError, which the platform would see as a 500.
    redis = (
        Redis.from_pool(  # the client owns the pool: closing it closes the connections
            BlockingConnectionPool.from_url(settings.redis_url, max_connections=200, timeout=10)
        )
        if settings.redis_url
        else None
    )
    locks: LearnerLocks
    recent: RecentUpdates
    if redis is not None:
        recent = RedisRecentUpdates(redis)
        # The dedup fast path rides on the learner lock's round trips to Redis.
        locks = RedisLocks(redis, timeout=settings.lock_timeout_seconds, recent=recent)
    else:
        locks = MemoryLocks(timeout=settings.lock_timeout_seconds)
        recent = NoRecentUpdates()
    links = Links(
        base_url=settings.base_url,
        telegram_bot=settings.telegram_bot_username,
        secret=settings.link_secret,
    )
    assistant = Assistant(catalog)
    worker = OutboxWorker(
        database=database,
        locks=locks,
        senders={},
        wakeups=RedisWakeups(redis) if redis is not None else None,
    )
    model = ModelClient(settings)
    model_jobs = (
        ModelJobs(
            database=database,
            client=model,
            library=assistant.library,
            guardrails=Guardrails(catalog),
            clock=utcnow,
            notify=worker.notify,
        )
        if model.enabled
        else None
    )
    flood = (
        FloodGate(limits_storage(redis, "camtay:flood"), settings.effective_flood_per_minute)
        if settings.effective_flood_per_minute > 0
        else None
    )
    tutor = Tutor(
        engine=Engine(catalog),
        database=database,
        locks=locks,
        community=Community(catalog, links, retention_days=settings.event_retention_days),
        assistant=assistant,
        model_per_hour=settings.llm_per_learner_per_hour if model_jobs is not None else 0,
        on_model_job=model_jobs.wake if model_jobs is not None else lambda: None,
        recent=recent,
        flood=flood,
    )
    admin_limits = None
    if (
        settings.effective_admin_per_ip_per_minute
        or settings.effective_admin_logins_per_ip_per_minute
    ):
        admin_limits = AddressLimits(
            limits_storage(redis, "camtay:admin-limit"),
            per_minute=settings.effective_admin_per_ip_per_minute,
            logins_per_minute=settings.effective_admin_logins_per_ip_per_minute,
        )
    channels: dict[str, PushChannel] = {}
    if settings.telegram_token is not None:
        channels["telegram"] = _telegram(settings, tutor, database, worker.notify, redis)
    if settings.zalo_bot_token is not None:
        from bot.channels.zalo_bot import build_zalo_bot

        channels["zalo_bot"] = build_zalo_bot(settings, tutor, database, worker.notify)
    if settings.zalo_oa_app_id is not None:
        from bot.channels.zalo_oa import build_zalo_oa

        channels["zalo_oa"] = build_zalo_oa(settings, tutor, database, locks, worker.notify)
    worker.senders.update({name: channel.sender for name, channel in channels.items()})
    return Runtime(
        settings=settings,
        catalog=catalog,
        database=database,
        locks=locks,
        tutor=tutor,
        worker=worker,
        channels=channels,
        model_jobs=model_jobs,
        admin_limits=admin_limits,
    )

"""All configuration in one typed object, read from `CAMTAY_*` variables and `.env`."""

from __future__ import annotations

import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.content import DEFAULT_LESSONS_DIR

DEFAULT_SQLITE = Path("var/camtay.sqlite3")


class Settings(BaseSettings):
    """Built once at start-up and passed down; nothing reads the environment elsewhere."""

    model_config = SettingsConfigDict(env_prefix="CAMTAY_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://… in production; unset means the SQLite file below.",
    )
    database_pool_size: int = Field(
        default=20,  # bot/store/db.py's POOL_SIZE, for tests and tools that build a Database
        ge=2,
        description="PostgreSQL connections each process keeps open; a unit of work beyond "
        "them waits for one. Every process's pool together must stay under the server's "
        "max_connections",
    )
    sqlite_path: Path = DEFAULT_SQLITE
    redis_url: str | None = Field(
        default=None, description="redis://… shares locks across processes"
    )
    lessons_dir: Path = DEFAULT_LESSONS_DIR
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    lock_timeout_seconds: float = 10.0
    web_max_text_bytes: int = 4096

    telegram_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, description="1–256 characters of A-Z a-z 0-9 _ -; Telegram echoes it back"
    )
    telegram_bot_username: str | None = Field(
        default=None,
        description="the bot's @username without '@', for volunteers' invitation links",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$",
    )
    telegram_api_url: str = "https://api.telegram.org"
    telegram_per_bot_rate: float = Field(default=30, description="messages per second, all chats")
    telegram_per_chat_rate: float = Field(default=1, description="messages per second, one chat")
    telegram_per_chat_burst: int = Field(default=3, description="a chat's short burst allowance")
    zalo_bot_token: SecretStr | None = None
    zalo_bot_webhook_secret: SecretStr | None = Field(
        default=None, description="8–256 characters; Zalo echoes it in X-Bot-Api-Secret-Token"
    )
    zalo_bot_api_url: str = "https://bot-api.zaloplatforms.com"

    zalo_oa_app_id: str | None = None
    zalo_oa_secret_key: SecretStr | None = Field(
        default=None, description="the OA's secret key: signs the webhook events"
    )
    zalo_oa_app_secret: SecretStr | None = Field(
        default=None, description="the app secret: refreshes access tokens"
    )
    zalo_oa_refresh_token: SecretStr | None = Field(
        default=None, description="the first refresh token; later ones are kept in the database"
    )
    zalo_oa_api_url: str = "https://openapi.zalo.me"
    zalo_oa_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_oa_monthly_quota: int = Field(
        default=0, description="proactive messages a month allowed outside the 48-hour window"
    )

    llm_base_url: str | None = Field(
        default=None, description="an OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1"
    )
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = Field(default=10, gt=0, le=120)
    llm_per_learner_per_hour: int = Field(
        default=20, ge=0, description="model answers per learner an hour; beyond, offline ones"
    )
    report_refresh_seconds: float = Field(
        default=300, ge=0, description="how often report rollups are recomputed; 0: never"
    )
    embedded_worker: bool = Field(
        default=True, description="`camtay serve` also sends from the outbox (no separate worker)"
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: readable lines for development; production should use json "
        "(one object a line, with request_id, for the log collector)",
    )
    log_level: str = Field(
        default="INFO",
        pattern=r"(?i)^(debug|info|warning|error|critical)$",
        description="the root logger's level: DEBUG, INFO, WARNING, ERROR or CRITICAL",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="`camtay worker` serves Prometheus metrics on this port (on CAMTAY_HOST); "
        "0: none. Keep it off the public network",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="signs learners' data download links (/mydata on Zalo); required in "
        "production: 32 or more random characters. Unset in development: a random one per process",
    )
    event_retention_days: int = Field(
        default=365,
        ge=0,
        description="events older than this lose who did them; 0: kept as they are",
    )
    webhook_id_secret: SecretStr | None = Field(
        default=None,
        description="keys the pseudonymous learner ids in event webhooks (HMAC-SHA256); unset: "
        "a random one is made once and kept in the database. Changing it changes every id",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="event webhooks may go to private, loopback, link-local or reserved "
        "addresses (development and tests); off, such targets are refused",
    )

    flood_per_minute: int | None = Field(
        default=None,
        ge=0,
        description="inputs one learner's account may send in any minute; the first over gets "
        "one 'slow down' reply, the rest are dropped. Unset: 30 in production, off in "
        "development (a walk through every lesson at machine speed is no flood); 0: off",
    )
    telegram_turns_in_progress: int | None = Field(
        default=None,
        ge=0,
        description="Telegram updates one web process works on at once; one more waits up to "
        "telegram_wait_for_place_ms for a place, then is answered 503 with Retry-After, and "
        "Telegram delivers it again later. Overload then costs the updates turned away a "
        "retry, not every learner a slow answer. Unset: 32 in production, off in development; "
        "0: off",
    )
    telegram_wait_for_place_ms: int = Field(
        default=500,
        ge=0,
        le=10_000,
        description="how long a Telegram update over telegram_turns_in_progress waits for a "
        "place before it is turned away: a moment's slowdown of the host is waited out, and "
        "only an overload that lasts gets 503s (which also make Telegram slow its deliveries); "
        "0: turned away at once",
    )
    admin_per_ip_per_minute: int | None = Field(
        default=None,
        ge=0,
        description="requests to /admin (dashboard and API) one client address may make in any "
        "minute, then 429. Unset: 300 in production, off in development; 0: off. Behind a "
        "proxy the address is the one uvicorn's --proxy-headers/--forwarded-allow-ips decide",
    )
    admin_logins_per_ip_per_minute: int | None = Field(
        default=None,
        ge=0,
        description="dashboard sign-in attempts one client address may make in any minute, "
        "then 429. Unset: 10 in production, off in development; 0: off",
    )

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("zalo_bot_webhook_secret")
    @classmethod
    def _zalo_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("must be 8-256 characters")
        return value

    @field_validator(
        "zalo_bot_token",
        "zalo_bot_webhook_secret",
        "zalo_oa_app_id",
        "zalo_oa_secret_key",
        "zalo_oa_app_secret",
        "zalo_oa_refresh_token",
        "database_url",
        "redis_url",
        "public_url",
        "telegram_token",
        "telegram_webhook_secret",
        "telegram_bot_username",
        "llm_base_url",
        "llm_api_key",
        "llm_model",
        "secret_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def embedded(self) -> bool:
        """True on the SQLite default, where the process migrates and locks by itself."""
        return self.database_url is None

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.sqlite_path}"

    @cached_property
    def link_secret(self) -> bytes:
        """The key of download links: the configured one, or a random one for this process."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return secrets.token_bytes(32)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def _in_production(self, value: int | None, default: int) -> int:
        if value is not None:
            return value
        return default if self.environment == "production" else 0

    @property
    def effective_flood_per_minute(self) -> int:
        """Inputs a minute per learner account; 0: no limit."""
        return self._in_production(self.flood_per_minute, 30)

    @property
    def effective_telegram_turns_in_progress(self) -> int:
        """Telegram updates one process works on at once before it sheds load; 0: no bound."""
        return self._in_production(self.telegram_turns_in_progress, 32)

    @property
    def effective_admin_per_ip_per_minute(self) -> int:
        return self._in_production(self.admin_per_ip_per_minute, 300)

    @property
    def effective_admin_logins_per_ip_per_minute(self) -> int:
        return self._in_production(self.admin_logins_per_ip_per_minute, 10)

    def production_problems(self) -> list[str]:
        """What makes these settings unsafe to run in production, one sentence each; none
        outside production (development runs with defaults and random keys)."""
        if self.environment != "production":
            return []
        problems: list[str] = []
        key = self.secret_key.get_secret_value() if self.secret_key is not None else ""
        if not key:
            problems.append(
                "CAMTAY_SECRET_KEY is not set: set 32 or more random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        elif is_placeholder(key):
            problems.append("CAMTAY_SECRET_KEY is a placeholder: set a random value of its own")
        elif len(key) < MIN_SECRET_KEY:
            problems.append(
                f"CAMTAY_SECRET_KEY is {len(key)} characters long: use {MIN_SECRET_KEY} or more"
            )
        channels = (
            (
                "CAMTAY_TELEGRAM_TOKEN",
                self.telegram_token,
                "CAMTAY_TELEGRAM_WEBHOOK_SECRET",
                self.telegram_webhook_secret,
            ),
            (
                "CAMTAY_ZALO_BOT_TOKEN",
                self.zalo_bot_token,
                "CAMTAY_ZALO_BOT_WEBHOOK_SECRET",
                self.zalo_bot_webhook_secret,
            ),
            (
                "CAMTAY_ZALO_OA_APP_ID",
                self.zalo_oa_app_id,
                "CAMTAY_ZALO_OA_SECRET_KEY",
                self.zalo_oa_secret_key,
            ),
        )
        for token_name, token, secret_name, secret in channels:
            value = secret.get_secret_value() if secret is not None else ""
            if token is not None and not value:
                problems.append(
                    f"{token_name} is set but {secret_name} is not: anyone could post "
                    "updates to its webhook"
                )
            elif value and is_placeholder(value):
                problems.append(f"{secret_name} is a placeholder: set a random value of its own")
            elif value and len(value) < MIN_WEBHOOK_SECRET:
                problems.append(
                    f"{secret_name} is {len(value)} characters long: use "
                    f"{MIN_WEBHOOK_SECRET} or more random ones"
                )
        for name, secret in (
            ("CAMTAY_TELEGRAM_TOKEN", self.telegram_token),
            ("CAMTAY_ZALO_BOT_TOKEN", self.zalo_bot_token),
            ("CAMTAY_ZALO_OA_APP_SECRET", self.zalo_oa_app_secret),
            ("CAMTAY_ZALO_OA_REFRESH_TOKEN", self.zalo_oa_refresh_token),
            ("CAMTAY_WEBHOOK_ID_SECRET", self.webhook_id_secret),
            ("CAMTAY_LLM_API_KEY", self.llm_api_key),
        ):
            if secret is not None and is_placeholder(secret.get_secret_value()):
                problems.append(f"{name} is a placeholder: set the real value")
        if self.database_url is None:
            problems.append(
                "CAMTAY_DATABASE_URL is not set: production runs on PostgreSQL "
                "(postgresql+asyncpg://…), not the embedded SQLite file"
            )
        elif not self.database_url.startswith(("postgresql+asyncpg://", "postgresql://")):
            problems.append("CAMTAY_DATABASE_URL is not a PostgreSQL URL (postgresql+asyncpg://…)")
        elif url_has_placeholder(self.database_url):
            problems.append("CAMTAY_DATABASE_URL holds a placeholder password or host")
        if self.redis_url is None:
            problems.append(
                "CAMTAY_REDIS_URL is not set: production processes share locks and limits "
                "through Redis"
            )
        elif url_has_placeholder(self.redis_url):
            problems.append("CAMTAY_REDIS_URL holds a placeholder password or host")
        if not self.public_url or not self.public_url.startswith("https://"):
            problems.append(
                "CAMTAY_PUBLIC_URL must be the public https:// address (the platforms' "
                "webhooks and the learners' links use it)"
            )
        elif url_has_placeholder(self.public_url):
            problems.append(f"CAMTAY_PUBLIC_URL is an example address ({self.public_url})")
        return problems


MIN_SECRET_KEY = 32
MIN_WEBHOOK_SECRET = 16
PLACEHOLDER_WORDS = (
    "change-me",
    "change_me",
    "changeme",
    "placeholder",
    "example",
    "xxx",
    "your-",
    "your_",
    "<",
    "todo",
)
PLACEHOLDER_VALUES = frozenset(
    {"secret", "password", "test", "token", "key", "default", "admin", "dev", "none", "null"}
)


def is_placeholder(value: str) -> bool:
    """A value copied from an example rather than made: deploy/env.example's change-me…,
    "secret", "xxx", a run of one character."""
    lowered = value.strip().casefold()
    return (
        lowered in PLACEHOLDER_VALUES
        or any(word in lowered for word in PLACEHOLDER_WORDS)
        or len(set(lowered)) <= 1
    )


def url_has_placeholder(url: str) -> bool:
    """A URL whose password or host came from an example (change-me, *.example.org…)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").casefold()
    example_host = "example" in host.split(".") or host.endswith((".invalid", ".test"))
    return example_host or (parts.password is not None and is_placeholder(parts.password))

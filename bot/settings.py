"""All configuration in one typed object, read from `CAMTAY_*` variables and `.env`."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

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

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

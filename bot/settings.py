"""Every setting the bot reads, declared once, from the environment and `.env`."""

from __future__ import annotations

import logging
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.limits import Limits
from bot.core.requests import OutputFormat, Size


class Settings(BaseSettings):
    """Configuration for one running bot. Names match the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr
    vibedream_api_key: SecretStr
    vibedream_base_url: str = "https://api.vibedream.ai/api/v1"
    database_url: str = "sqlite:///data/imagine.db"
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    default_size: Size = "1024*1024"
    default_format: OutputFormat = "jpeg"
    allow_dms: bool = False
    generation_timeout_seconds: float = Field(120.0, gt=0, le=900)
    expected_cost_cents: int = Field(1, ge=0)
    generation_concurrency: int = Field(32, ge=1, le=1000)
    shutdown_grace_seconds: float = Field(20.0, ge=0, le=600)
    # What a server gets until its moderators choose otherwise; 0 means no limit.
    default_user_daily_images: int = Field(50, ge=0)
    default_user_cooldown_seconds: int = Field(0, ge=0)
    default_user_max_concurrent: int = Field(3, ge=0)
    default_guild_daily_budget_cents: int = Field(500, ge=0)
    default_guild_monthly_budget_cents: int = Field(0, ge=0)

    @field_validator("discord_token", "vibedream_api_key")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("vibedream_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _sqlite_only(cls, value: str) -> str:
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError("only sqlite:///path/to/file.db is supported")
        return value

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def default_limits(self) -> Limits:
        return Limits(
            user_daily_images=self.default_user_daily_images or None,
            user_cooldown_seconds=self.default_user_cooldown_seconds or None,
            user_max_concurrent=self.default_user_max_concurrent or None,
            guild_daily_budget_cents=self.default_guild_daily_budget_cents or None,
            guild_monthly_budget_cents=self.default_guild_monthly_budget_cents or None,
        )


def describe_errors(error: ValidationError) -> list[str]:
    """One line per bad setting, naming its variable; never the value, which may be a secret."""
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "settings"
        reason = (
            "is required"
            if item["type"] == "missing"
            else item["msg"].removeprefix("Value error, ")
        )
        lines.append(f"{name}: {reason}")
    return lines

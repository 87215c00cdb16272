"""Every setting the bot reads, declared once, from the environment and `.env`."""

from __future__ import annotations

import logging
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.limits import Limits
from bot.core.models import EVERY_SHARD, ShardScope
from bot.core.requests import OutputFormat, Size


class Settings(BaseSettings):
    """Configuration for one running bot. Names match the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr
    vibedream_api_key: SecretStr
    vibedream_base_url: str = "https://api.vibedream.ai/api/v1"
    # Hosts outputs may be downloaded from, besides the API's own; exact names, comma-separated.
    vibedream_assets_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["assets.vibedream.ai"]
    )
    database_url: str = "sqlite:///data/imagine.db"
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Unset: one process runs every shard Discord recommends.
    discord_shard_count: int | None = Field(None, ge=1)
    discord_shard_ids: Annotated[list[int] | None, NoDecode] = None
    # Unset: REST goes to Discord itself; else through a rate-limiting proxy at this address.
    discord_api_base: str | None = None
    # Unset: no metrics or health endpoint; else the host:port that serves both.
    metrics_address: str | None = None
    log_level: str = "INFO"
    default_size: Size = "1024*1024"
    default_format: OutputFormat = "jpeg"
    allow_dms: bool = False
    generation_timeout_seconds: float = Field(120.0, gt=0, le=900)
    expected_cost_cents: int = Field(1, ge=0)
    generation_concurrency: int = Field(1000, ge=1, le=10_000)
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

    @field_validator("vibedream_assets_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            hosts = [str(part).strip().rstrip(".").lower() for part in value]
            if any("/" in host or ":" in host or "@" in host for host in hosts):
                raise ValueError("must be host names such as assets.vibedream.ai, not URLs")
            return [host for host in hosts if host]
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        # The rest of a PostgreSQL URL is libpq's to judge, when the bot connects. The message
        # never repeats the value: a PostgreSQL URL may hold a password.
        if value.startswith("sqlite:///") and value != "sqlite:///":
            return value
        if value.startswith(("postgresql://", "postgres://")):
            return value
        raise ValueError(
            "use sqlite:///path/to/file.db (a file) or "
            "postgresql://user:password@host:5432/dbname (a server)"
        )

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _shard_ranges(cls, value: object) -> object:
        """`0-3`, `4,5` or `0-1,6`: the shards this process runs."""
        if not isinstance(value, str):
            return value
        shards: list[int] = []
        for part in filter(None, (piece.strip() for piece in value.split(","))):
            first, _, last = part.partition("-")
            if not first.isdigit() or (last and not last.isdigit()):
                raise ValueError("must be shard numbers and ranges, such as 0-3 or 4,5")
            shards.extend(range(int(first), int(last or first) + 1))
        return sorted(set(shards)) or None

    @field_validator("discord_api_base")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, such as http://127.0.0.1:8080/api/v10")
        return value.rstrip("/") if value else None

    @field_validator("metrics_address")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        host_and_port(value)  # raises ValueError
        return value.strip()

    @property
    def metrics_endpoint(self) -> tuple[str, int] | None:
        """Where /metrics and /healthz are served, if anywhere."""
        return host_and_port(self.metrics_address) if self.metrics_address else None

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.discord_shard_ids is not None:
            if self.discord_shard_count is None:
                raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT, the total")
            if max(self.discord_shard_ids) >= self.discord_shard_count:
                raise ValueError("DISCORD_SHARD_IDS must be below DISCORD_SHARD_COUNT")
        return self

    @property
    def shard_scope(self) -> ShardScope:
        """The servers this process answers for."""
        if self.discord_shard_ids is None or self.discord_shard_count is None:
            return EVERY_SHARD
        return ShardScope(self.discord_shard_count, frozenset(self.discord_shard_ids))

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


def host_and_port(address: str) -> tuple[str, int]:
    """`127.0.0.1:9108`, `localhost:9108`, `0.0.0.0:9108` or `[::1]:9108`, split."""
    host, colon, port = address.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address
    elif ":" in host:
        host = ""  # an IPv6 address needs its brackets, to tell it from the port
    if (
        not colon
        or not host
        or any(character in host for character in "/@ ")
        or not port.isdigit()
        or not 0 < int(port) < 65536
    ):
        raise ValueError("must be host:port, such as 127.0.0.1:9108")
    return host, int(port)


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

"""A server's policy: its defaults and limits over the bot-wide ones, read on every request and
changed rarely, so kept in memory and forgotten (after the write) whenever it changes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace

from bot.core.blocklist import BlockList
from bot.core.limits import NO_LIMITS, Limits, zone
from bot.core.models import GUILD_SETTING_FIELDS, GuildConfig, GuildSettings
from bot.core.ports import GuildConfigStore
from bot.core.requests import MAX_IMAGES_PER_REQUEST, OutputFormat, Size


@dataclass(frozen=True)
class BotDefaults:
    """What every server gets until its moderators choose otherwise."""

    size: Size = "1024*1024"
    output_format: OutputFormat = "jpeg"
    limits: Limits = NO_LIMITS


class GuildPolicy:
    def __init__(self, store: GuildConfigStore, defaults: BotDefaults = BotDefaults()) -> None:
        self._store = store
        self._defaults = defaults
        self._cache: dict[int, _Cached] = {}
        # Bumped by every invalidation: a load that started before one is not cached.
        self._generations: dict[int, int] = {}

    async def _cached(self, guild_id: int) -> _Cached:
        cached = self._cache.get(guild_id)
        if cached is None:
            generation = self._generations.get(guild_id, 0)
            config = await self._store.load_guild_config(guild_id)
            # Compiling thousands of terms takes long enough to stall the event loop.
            blocklist = await asyncio.to_thread(BlockList.compile, config.blocked_terms)
            limits = _combine(config, self._defaults.limits, blocklist)
            cached = _Cached(config, limits)
            if self._generations.get(guild_id, 0) == generation:
                self._cache[guild_id] = cached
        return cached

    async def settings(self, guild_id: int) -> GuildSettings:
        return (await self._cached(guild_id)).config.settings

    async def defaults_for(self, guild_id: int | None) -> tuple[str, str]:
        """The size and format a server's images get unless the member picks others."""
        if guild_id is None:
            return self._defaults.size, self._defaults.output_format
        settings = await self.settings(guild_id)
        return (
            settings.default_size or self._defaults.size,
            settings.default_format or self._defaults.output_format,
        )

    async def max_images_per_request(self, guild_id: int | None) -> int:
        """How many images one request may ask for here."""
        if guild_id is None:
            return MAX_IMAGES_PER_REQUEST
        return (await self.settings(guild_id)).max_images_per_request or MAX_IMAGES_PER_REQUEST

    async def confirm_above_cents(self, guild_id: int | None) -> int | None:
        """Above what cost a request is shown first, to be confirmed; None: never asked."""
        if guild_id is None:
            return None
        return (await self.settings(guild_id)).confirm_above_cents

    async def limits_for(self, guild_id: int | None) -> Limits:
        """The limits in force for a server: its own settings over the bot-wide defaults."""
        if guild_id is None:
            return self._defaults.limits
        return (await self._cached(guild_id)).limits

    async def update_settings(self, guild_id: int, changes: Mapping[str, object]) -> None:
        """Set some of a server's settings; a None value returns that one to the default."""
        unknown = set(changes) - GUILD_SETTING_FIELDS
        if unknown:
            raise ValueError(f"unknown guild settings: {sorted(unknown)}")
        if changes:
            await self._store.update_guild_settings(guild_id, changes)
            self.invalidate(guild_id)

    async def set_channel_allowed(self, guild_id: int, channel_id: int, allowed: bool) -> bool:
        changed = await self._store.set_channel_allowed(guild_id, channel_id, allowed)
        self.invalidate(guild_id)
        return changed

    async def set_term_blocked(self, guild_id: int, term: str, blocked: bool) -> bool:
        changed = await self._store.set_term_blocked(guild_id, term, blocked)
        self.invalidate(guild_id)
        return changed

    def invalidate(self, guild_id: int) -> None:
        """Forget a server's cached policy. Called after each write; a load already under way
        may return the old policy to its caller but cannot cache it."""
        self._cache.pop(guild_id, None)
        self._generations[guild_id] = self._generations.get(guild_id, 0) + 1


@dataclass(frozen=True)
class _Cached:
    config: GuildConfig
    limits: Limits


def _combine(config: GuildConfig, defaults: Limits, blocklist: BlockList) -> Limits:
    """A server's limits: its own numbers where it set them (0 meaning none), else the defaults."""

    def pick(own: int | None, default: int | None) -> int | None:
        chosen = default if own is None else own
        return chosen or None

    settings = config.settings
    return replace(
        defaults,
        user_daily_images=pick(settings.user_daily_images, defaults.user_daily_images),
        user_cooldown_seconds=pick(settings.user_cooldown_seconds, defaults.user_cooldown_seconds),
        user_max_concurrent=pick(settings.user_max_concurrent, defaults.user_max_concurrent),
        guild_daily_budget_cents=pick(
            settings.guild_daily_budget_cents, defaults.guild_daily_budget_cents
        ),
        guild_monthly_budget_cents=pick(
            settings.guild_monthly_budget_cents, defaults.guild_monthly_budget_cents
        ),
        timezone=zone(settings.timezone),
        exempt_role_id=settings.exempt_role_id,
        channel_ids=config.channel_ids,
        blocked_terms=config.blocked_terms,
        blocklist=blocklist,
    )

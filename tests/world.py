"""A whole bot under test: the real ImagineBot, cogs and core, against the two local fakes."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bot.app import api_session, build_bot
from bot.core.ports import Storage
from bot.discord_bot import ImagineBot
from bot.settings import Settings
from bot.storage import open_storage
from bot.vibedream import RetryPolicy, Timeouts
from tests.fakes.discord_harness import (
    DEFAULT_MEMBER_PERMISSIONS,
    DEFAULT_USER,
    autocomplete,
    make_guild,
    make_role,
    member_overwrite,
    slash,
    text_channel,
)
from tests.fakes.fake_discord import FakeDiscord, FakeMessage, InteractionRecord
from tests.fakes.fake_vibedream import FakeVibeDream

# Quick retries and timeouts so fault tests take milliseconds, not seconds.
FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)
FAST_TIMEOUTS = Timeouts(submit=0.5, poll=0.5, download=2.0, connect=0.5)

GUILD_ID = 400_000_000_000_000_001
EXEMPT_ROLE = 600_000_000_000_000_001
MOD_LOG = 500_000_000_000_000_003
GENERAL = 500_000_000_000_000_001
NO_FILES = 500_000_000_000_000_002  # the bot may not attach files here


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class World:
    bot: ImagineBot
    discord: FakeDiscord
    api: FakeVibeDream
    database: Storage

    async def command(
        self,
        name: str,
        channel_id: int = GENERAL,
        *,
        as_user: dict[str, Any] = DEFAULT_USER,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        roles: tuple[int, ...] = (),
        locale: str = "en-US",
        **options: Any,
    ) -> InteractionRecord:
        return await slash(
            self.bot,
            self.discord,
            name,
            options,
            user=as_user,
            guild_id=GUILD_ID,
            channel_id=channel_id,
            permissions=permissions,
            roles=roles,
            locale=locale,
        )

    async def autocomplete(
        self,
        name: str,
        focused: str,
        channel_id: int = GENERAL,
        *,
        as_user: dict[str, Any] = DEFAULT_USER,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """The choices offered while typing option `focused` of /`name` (its text so far among
        `options`)."""
        return await autocomplete(
            self.bot,
            self.discord,
            name,
            options,
            focused,
            user=as_user,
            guild_id=GUILD_ID,
            channel_id=channel_id,
            permissions=permissions,
        )

    def channel(self, channel_id: int) -> dict[str, Any]:
        """A channel as an option value: its payload, as Discord resolves it."""
        return {**self.discord.channels[channel_id], "permissions": str(DEFAULT_MEMBER_PERMISSIONS)}

    async def imagine(self, channel_id: int = GENERAL, **options: Any) -> InteractionRecord:
        return await self.command("imagine", channel_id, **options)

    async def answered(self, record: InteractionRecord) -> dict[str, Any]:
        """The message an interaction was answered with: its first response, or for a deferred
        one, what the original response became."""
        await self.discord.wait_for(lambda: record.acknowledged)
        if record.response_type != 5:
            assert record.response_data is not None
            return record.response_data

        def filled() -> FakeMessage | None:
            message = self.discord.interaction_original(record.id)
            return message if message and (message.content or message.embeds) else None

        return self.discord.message_payload(await self.discord.wait_for(filled))

    async def settled(self, record: InteractionRecord, within: float = 10.0) -> FakeMessage:
        """The interaction's reply once it shows a final state: an image or a failure line."""

        def final() -> FakeMessage | None:
            message = self.discord.interaction_original(record.id)
            if message is None:
                return None
            if message.attachments or message.content.startswith("❌"):
                return message
            return None

        return await self.discord.wait_for(final, timeout=within)

    def decoded(self, message: FakeMessage) -> Image.Image:
        [attachment] = message.attachments
        image = Image.open(io.BytesIO(attachment.data))
        image.load()
        return image

    def sent_bodies(self) -> list[dict[str, Any]]:
        """Every JSON body the bot sent that can carry text."""
        return [
            request.json
            for request in self.discord.requests
            if isinstance(request.json, dict) and request.method in ("POST", "PATCH")
        ]


def mention_problems(body: dict[str, Any]) -> list[str]:
    """Why a body could ping someone it should not: @everyone, @here or a role."""
    data = body.get("data", body)  # interaction callbacks wrap the message in "data"
    if not isinstance(data, dict) or not ({"content", "embeds"} & set(data)):
        return []
    allowed = data.get("allowed_mentions")
    if allowed is None:
        return ["no allowed_mentions: Discord would parse every mention in the text"]
    problems = []
    if set(allowed.get("parse", [])) - {"users"}:
        problems.append(f"parses {allowed['parse']}")
    if allowed.get("roles"):
        problems.append(f"allows roles {allowed['roles']}")
    return problems


# Tests start from no limits at all and set the ones they are about.
NO_DEFAULT_LIMITS = {
    "default_user_daily_images": 0,
    "default_user_max_concurrent": 0,
    "default_guild_daily_budget_cents": 0,
}


def settings_for(
    fake_api: FakeVibeDream, fake_discord: FakeDiscord, db: Path, **extra: Any
) -> Settings:
    return Settings(
        discord_token=fake_discord.token,
        vibedream_api_key=fake_api.api_key,
        vibedream_base_url=fake_api.base_url,
        database_url=f"sqlite:///{db}",
        _env_file=None,
        **{**NO_DEFAULT_LIMITS, **extra},
    )


@asynccontextmanager
async def started_fakes(
    fake_api: FakeVibeDream | None = None, fake_discord: FakeDiscord | None = None
) -> AsyncIterator[tuple[FakeVibeDream, FakeDiscord]]:
    """Both fakes on loopback, with discord.py pointed at the fake Discord."""
    fake_api = fake_api or FakeVibeDream(estimated_time="0.05-0.3s")
    fake_discord = fake_discord or FakeDiscord()
    async with fake_api, fake_discord:
        fake_discord.install()
        yield fake_api, fake_discord


@asynccontextmanager
async def bot_world(
    tmp_path: Path,
    fake_api: FakeVibeDream,
    fake_discord: FakeDiscord,
    *,
    guild_locale: str = "en-US",
    **settings: Any,
) -> AsyncIterator[World]:
    """One bot instance over the database in `tmp_path`, in a server with three channels
    whose preferred locale is `guild_locale`. The fakes outlive it, so a test can stop it and
    start another over the same state."""
    config = settings_for(fake_api, fake_discord, tmp_path / "imagine.db", **settings)
    async with api_session() as session:
        database = await open_storage(config.database_url, exclusive=True)
        bot = build_bot(config, session, database, retry=FAST_RETRY, timeouts=FAST_TIMEOUTS)
        try:
            await bot.login(fake_discord.token)  # runs setup_hook: cogs, sync, recovery
            assert bot.user is not None
            no_files = member_overwrite(bot.user.id, deny=1 << 15)  # ATTACH_FILES
            make_guild(
                bot,
                fake_discord,
                guild_id=GUILD_ID,
                channels=[
                    text_channel("general", channel_id=GENERAL),
                    text_channel("no-files", channel_id=NO_FILES, overwrites=[no_files]),
                    text_channel("mod-log", channel_id=MOD_LOG),
                ],
                roles=[make_role("trusted", role_id=EXEMPT_ROLE)],
                owner_id=int(DEFAULT_USER["id"]),
                preferred_locale=guild_locale,
            )
            yield World(bot, fake_discord, fake_api, database)
        finally:
            await bot.shutdown(grace_seconds=10)  # lets handlers still finishing end cleanly
            await database.close()


@asynccontextmanager
async def running_world(
    tmp_path: Path,
    *,
    fake_api: FakeVibeDream | None = None,
    fake_discord: FakeDiscord | None = None,
    **settings: Any,
) -> AsyncIterator[World]:
    """Start both fakes, the database and the bot."""
    async with (
        started_fakes(fake_api, fake_discord) as (api, discord_fake),
        bot_world(tmp_path, api, discord_fake, **settings) as world,
    ):
        yield world

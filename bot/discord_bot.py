"""The discord.py Bot: holds the core's services for the cogs, loads them, syncs commands."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any, Protocol, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import ShardScope
from bot.core.ports import BotState
from bot.core.services import Services
from bot.settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.imagine",
    "cogs.results",
    "cogs.usage",
    "cogs.limits",
    "cogs.gallery",
    "cogs.styles",
    "cogs.preferences",
    "cogs.recovery",
)
# Everything the bot needs in a channel; the invite URL asks for exactly this.
REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
SYNC_FINGERPRINT_KEY = "command_sync_fingerprint"
RECOVERY_COG = "Recovery"


class Recoverer(Protocol):
    async def keep_recovering(self, scope: ShardScope, *, alone: bool) -> None: ...


class ImagineBot(commands.AutoShardedBot):
    def __init__(
        self,
        *,
        settings: Settings,
        state: BotState,
        services: Services,
        tree_cls: type[app_commands.CommandTree[Any]] = app_commands.CommandTree,
        translator: app_commands.Translator | None = None,
        alone: bool = True,
        force_sync: bool = False,
    ) -> None:
        super().__init__(
            # Unset, discord.py asks Discord how many shards to run and runs them all here.
            shard_count=settings.discord_shard_count,
            # discord.py's annotation omits None, which is its own default.
            shard_ids=cast(list[int], settings.discord_shard_ids),
            tree_cls=tree_cls,
            command_prefix=commands.when_mentioned,  # unused: there are no text commands
            intents=discord.Intents(
                guilds=True, guild_messages=True, dm_messages=settings.allow_dms
            ),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.state = state
        self.services = services
        self.scope = settings.shard_scope
        self._alone = alone
        self._force_sync = force_sync
        self._translator = translator
        self._recovery: asyncio.Task[None] | None = None
        self._jobs_running: set[asyncio.Task[object]] = set()
        # Cogs beside the extensions (monitoring, when it is on): added in setup_hook, removed
        # by close.
        self.extra_cogs: list[commands.Cog] = []
        dms = settings.allow_dms
        self.tree.allowed_contexts = app_commands.AppCommandContext(
            guild=True, dm_channel=dms, private_channel=dms
        )

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        for cog in self.extra_cogs:
            await self.add_cog(cog)
        if self._translator is not None:  # before the sync, which sends the translations
            await self.tree.set_translator(self._translator)
        # Beside the rest of the start-up: the HTTP client is ready once logged in.
        self.services.leases.start()
        self._recovery = asyncio.create_task(self._recover())
        if self.syncs_commands or self._force_sync:
            await self.sync_commands(force=self._force_sync)
        # At WARNING, so that an operator sees it whatever LOG_LEVEL says.
        log.warning("Invite the bot with: %s", self.invite_url())

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Space gateway sessions across every process of the cluster, not this one alone
        (discord.py's own hook only sleeps between this process's shards)."""
        await self.state.take_identify_turn()

    @property
    def syncs_commands(self) -> bool:
        """One process per cluster registers the commands: the one running shard 0."""
        shard_ids = self.settings.discord_shard_ids
        return shard_ids is None or 0 in shard_ids

    async def _recover(self) -> None:
        """Deliver, for as long as the bot runs, what stopped processes left undelivered in
        this process's scope."""
        recovery = self.get_cog(RECOVERY_COG)
        if recovery is not None:
            await cast(Recoverer, recovery).keep_recovering(self.scope, alone=self._alone)

    def invite_url(self) -> str:
        assert self.application_id is not None, "known once logged in"
        return discord.utils.oauth_url(
            self.application_id,
            permissions=REQUIRED_PERMISSIONS,
            scopes=("bot", "applications.commands"),
        )

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Register the commands with Discord when their definitions changed since the last sync
        (or when forced): to the configured servers, else globally. Returns whether it synced."""
        guild_ids = self.settings.discord_guild_ids
        definitions = await self._command_payloads()
        fingerprint = hashlib.sha256(
            json.dumps({"guilds": guild_ids, "commands": definitions}, sort_keys=True).encode()
        ).hexdigest()
        if not force and await self.state.get_state(SYNC_FINGERPRINT_KEY) == fingerprint:
            log.info("Commands unchanged since the last sync; not syncing")
            return False
        if guild_ids:
            for guild_id in guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            log.info("Synced %d commands to servers %s", len(definitions), guild_ids)
        else:
            await self.tree.sync()
            log.info("Synced %d commands globally (may take a while to appear)", len(definitions))
        await self.state.set_state(SYNC_FINGERPRINT_KEY, fingerprint)
        return True

    async def _command_payloads(self) -> list[dict[str, Any]]:
        """The commands as a sync sends them, translations included, so that a changed
        catalogue is synced too."""
        translator = self.tree.translator
        commands = self.tree.get_commands()
        if translator is None:
            return [command.to_dict(self.tree) for command in commands]
        return [await command.get_translated_payload(self.tree, translator) for command in commands]

    @contextlib.contextmanager
    def tracking(self, task: asyncio.Task[object] | None) -> Iterator[None]:
        """Count a task as a job in progress, for a graceful shutdown to wait for."""
        if task is not None:
            self._jobs_running.add(task)
        try:
            yield
        finally:
            self._jobs_running.discard(task)

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop taking jobs, give those in progress `grace_seconds` to finish, then stop; the
        next start delivers whatever was still running."""
        log.info("Shutting down: %d jobs in progress", len(self._jobs_running))
        self.services.stop_taking_jobs()
        running = set(self._jobs_running)
        if running:
            _, unfinished = await asyncio.wait(running, timeout=grace_seconds)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            log.info("%d jobs left for the next start", len(unfinished))
        if self._recovery is not None:
            self._recovery.cancel()
        await self.services.leases.stop()
        await self.close()

    async def on_message(self, message: discord.Message) -> None:
        """No text commands: mentions are handled by the imagine cog's own listener."""

"""/limits: what moderators (members with Manage Server) allow the server to spend."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot.core.limits import timezone_names
from bot.core.refusals import Refused
from bot.core.requests import MAX_IMAGES_PER_REQUEST
from bot.discord_bot import ImagineBot
from cogs._render import FORMAT_CHOICES, SIZE_CHOICES, limits_embed, trimmed

MANAGE_SERVER = discord.Permissions(manage_guild=True)
MAX_TERM_LENGTH = 100


class LimitsCog(commands.Cog, name="Limits"):
    limits = app_commands.Group(
        name="limits",
        description="See and change what this server allows (Manage Server)",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )
    channels = app_commands.Group(
        name="channels", description="Channels where /imagine may be used", parent=limits
    )
    blocked = app_commands.Group(
        name="blocked", description="Words and phrases refused in prompts", parent=limits
    )

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Server admins can override a command's default permissions, so check again here.
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    def _guild_id(self, interaction: discord.Interaction) -> int:
        assert interaction.guild_id is not None, "the group is guild-only"
        return interaction.guild_id

    async def _show(self, interaction: discord.Interaction, note: str | None = None) -> None:
        guild_id = self._guild_id(interaction)
        limits = await self.bot.services.policy.limits_for(guild_id)
        settings = await self.bot.services.policy.settings(guild_id)
        defaults = await self.bot.services.policy.defaults_for(guild_id)
        embed = limits_embed(limits, settings, defaults, note)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @limits.command(name="show")
    async def show(self, interaction: discord.Interaction) -> None:
        """Every limit in force in this server."""
        await self._show(interaction)

    @limits.command(name="set")
    @app_commands.describe(
        user_daily_images="Images one member may make per day (0 for no limit)",
        user_cooldown_seconds="Seconds a member waits between images (0 for none)",
        user_max_concurrent="Images one member may have in progress at once (0 for no limit)",
        guild_daily_budget_cents="Cents the server may spend per day (0 for no limit)",
        guild_monthly_budget_cents="Cents the server may spend per month (0 for no limit)",
        timezone="When days and months reset, e.g. Europe/Paris (UTC if unset)",
        spoilers="Outside age-restricted channels: show results, hide them, or make none",
        max_images_per_request="How many images one /imagine may make at once (1 to 4)",
        confirm_above_cents="Show the cost to confirm first when a request costs more (0: never)",
        personal_suffixes="Whether members' own suffixes (/prefer suffix) are added to prompts",
    )
    @app_commands.choices(
        spoilers=[
            app_commands.Choice(name="show results", value="off"),
            app_commands.Choice(name="behind a spoiler", value="spoiler"),
            app_commands.Choice(name="make no images", value="refuse"),
        ]
    )
    async def set_limits(
        self,
        interaction: discord.Interaction,
        user_daily_images: Range[int, 0, 100_000] | None = None,
        user_cooldown_seconds: Range[int, 0, 86_400] | None = None,
        user_max_concurrent: Range[int, 0, 100] | None = None,
        guild_daily_budget_cents: Range[int, 0, 10_000_000] | None = None,
        guild_monthly_budget_cents: Range[int, 0, 100_000_000] | None = None,
        timezone: str | None = None,
        spoilers: str | None = None,
        max_images_per_request: Range[int, 1, MAX_IMAGES_PER_REQUEST] | None = None,
        confirm_above_cents: Range[int, 0, 10_000_000] | None = None,
        personal_suffixes: bool | None = None,
    ) -> None:
        """Change any of the limits; options you leave out stay as they are."""
        changes: dict[str, object] = {
            name: value
            for name, value in (
                ("user_daily_images", user_daily_images),
                ("user_cooldown_seconds", user_cooldown_seconds),
                ("user_max_concurrent", user_max_concurrent),
                ("guild_daily_budget_cents", guild_daily_budget_cents),
                ("guild_monthly_budget_cents", guild_monthly_budget_cents),
                ("max_images_per_request", max_images_per_request),
            )
            if value is not None
        }
        if confirm_above_cents is not None:
            changes["confirm_above_cents"] = confirm_above_cents or None
        if timezone is not None:
            if timezone not in timezone_names() and timezone.upper() != "UTC":
                shown = discord.utils.escape_markdown(trimmed(timezone, 60))
                raise Refused(f"“{shown}” is not a time zone I know; try e.g. Europe/Paris.")
            changes["timezone"] = None if timezone.upper() == "UTC" else timezone
        if spoilers is not None:
            changes["spoiler_policy"] = None if spoilers == "off" else spoilers
        if personal_suffixes is not None:
            changes["personal_suffixes"] = None if personal_suffixes else False
        if not changes:
            raise Refused("Give at least one limit to change.")
        await self.bot.services.policy.update_settings(self._guild_id(interaction), changes)
        await self._show(interaction, "Saved.")

    @set_limits.autocomplete("timezone")
    async def _timezones(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        matches = [name for name in timezone_names() if current.lower() in name.lower()]
        return [app_commands.Choice(name=name, value=name) for name in matches[:25]]

    @channels.command(name="add")
    async def add_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        """Allow /imagine in a channel (once any is added, only those channels)."""
        await self.bot.services.policy.set_channel_allowed(
            self._guild_id(interaction), channel.id, True
        )
        await self._show(interaction, f"/imagine is allowed in {channel.mention}.")

    @channels.command(name="remove")
    async def remove_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        """Take a channel off the list (with none left, /imagine works everywhere)."""
        guild_id = self._guild_id(interaction)
        if not await self.bot.services.policy.set_channel_allowed(guild_id, channel.id, False):
            raise Refused(f"{channel.mention} was not on the list.")
        await self._show(interaction, f"{channel.mention} removed.")

    @blocked.command(name="add")
    async def add_term(
        self, interaction: discord.Interaction, term: Range[str, 1, MAX_TERM_LENGTH]
    ) -> None:
        """Refuse prompts with a word or phrase, however disguised; end it with * for a stem."""
        term = " ".join(term.split())
        await self.bot.services.policy.set_term_blocked(self._guild_id(interaction), term, True)
        await self._show(interaction, f"Blocked “{discord.utils.escape_markdown(term)}”.")

    @blocked.command(name="remove")
    async def remove_term(
        self, interaction: discord.Interaction, term: Range[str, 1, MAX_TERM_LENGTH]
    ) -> None:
        """Stop refusing a word or phrase."""
        term = " ".join(term.split())
        if not await self.bot.services.policy.set_term_blocked(
            self._guild_id(interaction), term, False
        ):
            raise Refused("That word or phrase was not blocked.")
        await self._show(interaction, f"Unblocked “{discord.utils.escape_markdown(term)}”.")

    @blocked.command(name="list")
    async def list_terms(self, interaction: discord.Interaction) -> None:
        """The blocked words and phrases."""
        await self._show(interaction)

    @limits.command(name="defaults")
    @app_commands.describe(
        size="Size /imagine uses when the member picks none",
        output_format="File type /imagine uses when the member picks none",
    )
    @app_commands.rename(output_format="format")
    @app_commands.choices(size=SIZE_CHOICES, output_format=FORMAT_CHOICES)
    async def defaults(
        self,
        interaction: discord.Interaction,
        size: str | None = None,
        output_format: str | None = None,
    ) -> None:
        """The size and format this server's images get unless a member picks others."""
        changes = {
            name: value
            for name, value in (("default_size", size), ("default_format", output_format))
            if value is not None
        }
        if not changes:
            raise Refused("Give a size, a format, or both.")
        await self.bot.services.policy.update_settings(self._guild_id(interaction), changes)
        await self._show(interaction, "Saved.")

    @limits.command(name="log-channel")
    @app_commands.describe(channel="Where each generation is recorded; leave empty to stop")
    async def log_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        """Record every generation (who, prompt, link) in a moderation channel."""
        channel_id = channel.id if channel else None
        await self.bot.services.policy.update_settings(
            self._guild_id(interaction), {"log_channel_id": channel_id}
        )
        await self._show(interaction, "Saved.")

    @limits.command(name="exempt-role")
    @app_commands.describe(role="Members with this role skip the per-member limits; empty to clear")
    async def exempt_role(
        self, interaction: discord.Interaction, role: discord.Role | None = None
    ) -> None:
        """A role whose members are not held to the per-member limits (budgets still apply)."""
        await self.bot.services.policy.update_settings(
            self._guild_id(interaction), {"exempt_role_id": role.id if role else None}
        )
        await self._show(interaction, "Saved.")


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(LimitsCog(bot))

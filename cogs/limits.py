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
from cogs._i18n import N_, NC_, _
from cogs._render import FORMAT_CHOICES, SIZE_CHOICES, limits_embed, trimmed

MANAGE_SERVER = discord.Permissions(manage_guild=True)
MAX_TERM_LENGTH = 100
SAVED = N_("Saved.")


class LimitsCog(commands.Cog, name="Limits"):
    limits = app_commands.Group(
        name=NC_("command", "limits"),
        description=N_("See and change what this server allows (Manage Server)"),
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )
    channels = app_commands.Group(
        name=NC_("command", "channels"),
        description=N_("Channels where /imagine may be used"),
        parent=limits,
    )
    blocked = app_commands.Group(
        name=NC_("command", "blocked"),
        description=N_("Words and phrases refused in prompts"),
        parent=limits,
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

    @limits.command(
        name=NC_("command", "show"), description=N_("Every limit in force in this server.")
    )
    async def show(self, interaction: discord.Interaction) -> None:
        await self._show(interaction)

    @limits.command(
        name=NC_("command", "set"),
        description=N_("Change any of the limits; options you leave out stay as they are."),
    )
    @app_commands.rename(
        user_daily_images=NC_("option", "user_daily_images"),
        user_cooldown_seconds=NC_("option", "user_cooldown_seconds"),
        user_max_concurrent=NC_("option", "user_max_concurrent"),
        guild_daily_budget_cents=NC_("option", "guild_daily_budget_cents"),
        guild_monthly_budget_cents=NC_("option", "guild_monthly_budget_cents"),
        timezone=NC_("option", "timezone"),
        spoilers=NC_("option", "spoilers"),
        max_images_per_request=NC_("option", "max_images_per_request"),
        confirm_above_cents=NC_("option", "confirm_above_cents"),
        personal_suffixes=NC_("option", "personal_suffixes"),
    )
    @app_commands.describe(
        user_daily_images=N_("Images one member may make per day (0 for no limit)"),
        user_cooldown_seconds=N_("Seconds a member waits between images (0 for none)"),
        user_max_concurrent=N_("Images one member may have in progress at once (0 for no limit)"),
        guild_daily_budget_cents=N_("Cents the server may spend per day (0 for no limit)"),
        guild_monthly_budget_cents=N_("Cents the server may spend per month (0 for no limit)"),
        timezone=N_("When days and months reset, e.g. Europe/Paris (UTC if unset)"),
        spoilers=N_("Outside age-restricted channels: show results, hide them, or make none"),
        max_images_per_request=N_("How many images one /imagine may make at once (1 to 4)"),
        confirm_above_cents=N_(
            "Show the cost to confirm first when a request costs more (0: never)"
        ),
        personal_suffixes=N_("Whether members' own suffixes (/prefer suffix) are added to prompts"),
    )
    @app_commands.choices(
        spoilers=[
            app_commands.Choice(name=N_("show results"), value="off"),
            app_commands.Choice(name=N_("behind a spoiler"), value="spoiler"),
            app_commands.Choice(name=N_("make no images"), value="refuse"),
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
                raise Refused(
                    N_("“{zone}” is not a time zone I know; try e.g. Europe/Paris."), zone=shown
                )
            changes["timezone"] = None if timezone.upper() == "UTC" else timezone
        if spoilers is not None:
            changes["spoiler_policy"] = None if spoilers == "off" else spoilers
        if personal_suffixes is not None:
            changes["personal_suffixes"] = None if personal_suffixes else False
        if not changes:
            raise Refused(N_("Give at least one limit to change."))
        await self.bot.services.policy.update_settings(self._guild_id(interaction), changes)
        await self._show(interaction, _(SAVED))

    @set_limits.autocomplete("timezone")
    async def _timezones(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        matches = [name for name in timezone_names() if current.lower() in name.lower()]
        return [app_commands.Choice(name=name, value=name) for name in matches[:25]]

    @channels.command(
        name=NC_("command", "add"),
        description=N_("Allow /imagine in a channel (once any is added, only those channels)."),
    )
    @app_commands.rename(channel=NC_("option", "channel"))
    @app_commands.describe(channel=N_("The channel"))
    async def add_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self.bot.services.policy.set_channel_allowed(
            self._guild_id(interaction), channel.id, True
        )
        await self._show(
            interaction, _("/imagine is allowed in {channel}.", channel=channel.mention)
        )

    @channels.command(
        name=NC_("command", "remove"),
        description=N_("Take a channel off the list (with none left, /imagine works everywhere)."),
    )
    @app_commands.rename(channel=NC_("option", "channel"))
    @app_commands.describe(channel=N_("The channel"))
    async def remove_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        guild_id = self._guild_id(interaction)
        if not await self.bot.services.policy.set_channel_allowed(guild_id, channel.id, False):
            raise Refused(N_("{channel} was not on the list."), channel=channel.mention)
        await self._show(interaction, _("{channel} removed.", channel=channel.mention))

    @blocked.command(
        name=NC_("command", "add"),
        description=N_(
            "Refuse prompts with a word or phrase, however disguised; end it with * for a stem."
        ),
    )
    @app_commands.rename(term=NC_("option", "term"))
    @app_commands.describe(term=N_("A word or phrase"))
    async def add_term(
        self, interaction: discord.Interaction, term: Range[str, 1, MAX_TERM_LENGTH]
    ) -> None:
        term = " ".join(term.split())
        await self.bot.services.policy.set_term_blocked(self._guild_id(interaction), term, True)
        shown = discord.utils.escape_markdown(term)
        await self._show(interaction, _("Blocked “{term}”.", term=shown))

    @blocked.command(
        name=NC_("command", "remove"), description=N_("Stop refusing a word or phrase.")
    )
    @app_commands.rename(term=NC_("option", "term"))
    @app_commands.describe(term=N_("A word or phrase"))
    async def remove_term(
        self, interaction: discord.Interaction, term: Range[str, 1, MAX_TERM_LENGTH]
    ) -> None:
        term = " ".join(term.split())
        if not await self.bot.services.policy.set_term_blocked(
            self._guild_id(interaction), term, False
        ):
            raise Refused(N_("That word or phrase was not blocked."))
        shown = discord.utils.escape_markdown(term)
        await self._show(interaction, _("Unblocked “{term}”.", term=shown))

    @blocked.command(name=NC_("command", "list"), description=N_("The blocked words and phrases."))
    async def list_terms(self, interaction: discord.Interaction) -> None:
        await self._show(interaction)

    @limits.command(
        name=NC_("command", "defaults"),
        description=N_(
            "The size and format this server's images get unless a member picks others."
        ),
    )
    @app_commands.describe(
        size=N_("Size /imagine uses when the member picks none"),
        output_format=N_("File type /imagine uses when the member picks none"),
    )
    @app_commands.rename(size=NC_("option", "size"), output_format=NC_("option", "format"))
    @app_commands.choices(size=SIZE_CHOICES, output_format=FORMAT_CHOICES)
    async def defaults(
        self,
        interaction: discord.Interaction,
        size: str | None = None,
        output_format: str | None = None,
    ) -> None:
        changes = {
            name: value
            for name, value in (("default_size", size), ("default_format", output_format))
            if value is not None
        }
        if not changes:
            raise Refused(N_("Give a size, a format, or both."))
        await self.bot.services.policy.update_settings(self._guild_id(interaction), changes)
        await self._show(interaction, _(SAVED))

    @limits.command(
        name=NC_("command", "log-channel"),
        description=N_("Record every generation (who, prompt, link) in a moderation channel."),
    )
    @app_commands.rename(channel=NC_("option", "channel"))
    @app_commands.describe(channel=N_("Where each generation is recorded; leave empty to stop"))
    async def log_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        channel_id = channel.id if channel else None
        await self.bot.services.policy.update_settings(
            self._guild_id(interaction), {"log_channel_id": channel_id}
        )
        await self._show(interaction, _(SAVED))

    @limits.command(
        name=NC_("command", "exempt-role"),
        description=N_(
            "A role whose members are not held to the per-member limits (budgets still apply)."
        ),
    )
    @app_commands.rename(role=NC_("option", "role"))
    @app_commands.describe(
        role=N_("Members with this role skip the per-member limits; empty to clear")
    )
    async def exempt_role(
        self, interaction: discord.Interaction, role: discord.Role | None = None
    ) -> None:
        await self.bot.services.policy.update_settings(
            self._guild_id(interaction), {"exempt_role_id": role.id if role else None}
        )
        await self._show(interaction, _(SAVED))


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(LimitsCog(bot))

"""/prefer: a member's own defaults in this server (size, format, count, a suffix for every
prompt) and option sets, words and flags typed as `--name`."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot.core.composition import MAX_OPTION_SET_NAME, MAX_OPTION_SET_VALUE, MAX_SUFFIX
from bot.core.preferences import MAX_COUNT
from bot.discord_bot import ImagineBot
from cogs._i18n import N_, NC_, _
from cogs._render import FORMAT_CHOICES, SIZE_CHOICES
from cogs._render_styles import (
    CLEARED,
    NOTHING_TO_CLEAR,
    SAVED,
    SUFFIX_REMOVED,
    SUFFIX_SAVED,
    option_set_deleted_line,
    option_set_saved_line,
    option_sets_text,
    preferences_embed,
)


class PreferencesCog(commands.Cog, name="Preferences"):
    prefer = app_commands.Group(
        name=NC_("command", "prefer"),
        description=N_("Your own defaults for /imagine in this server"),
        guild_only=True,
    )
    option = app_commands.Group(
        name=NC_("command", "option"),
        description=N_("Option sets: --name in a prompt for words and flags"),
        parent=prefer,
    )

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @staticmethod
    def _member(interaction: discord.Interaction) -> tuple[int, int]:
        assert interaction.guild_id is not None, "the group is guild-only"
        return interaction.guild_id, interaction.user.id

    async def _show(self, interaction: discord.Interaction, note: str | None = None) -> None:
        guild_id, user_id = self._member(interaction)
        preferences = await self.bot.services.preferences.of(guild_id, user_id)
        settings = await self.bot.services.policy.settings(guild_id)
        embed = preferences_embed(
            preferences, suffix_allowed=settings.personal_suffixes is not False, note=note
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @prefer.command(
        name=NC_("command", "show"),
        description=N_("Your defaults, suffix and option sets in this server."),
    )
    async def show(self, interaction: discord.Interaction) -> None:
        await self._show(interaction)

    @prefer.command(
        name=NC_("command", "set"),
        description=N_("Change your defaults; those you leave out stay as they are."),
    )
    @app_commands.rename(
        size=NC_("option", "size"),
        output_format=NC_("option", "format"),
        count=NC_("option", "count"),
    )
    @app_commands.describe(
        size=N_("The size your images get unless you pick one"),
        output_format=N_("The file type your images get unless you pick one"),
        count=N_("How many images a prompt makes unless you say"),
    )
    @app_commands.choices(size=SIZE_CHOICES, output_format=FORMAT_CHOICES)
    async def set_defaults(
        self,
        interaction: discord.Interaction,
        size: str | None = None,
        output_format: str | None = None,
        count: Range[int, 1, MAX_COUNT] | None = None,
    ) -> None:
        guild_id, user_id = self._member(interaction)
        await self.bot.services.preferences.set_defaults(
            guild_id, user_id, size=size, output_format=output_format, count=count
        )
        await self._show(interaction, _(SAVED))

    @prefer.command(
        name=NC_("command", "suffix"),
        description=N_("Words added to the end of each of your prompts in this server."),
    )
    @app_commands.rename(text=NC_("option", "text"))
    @app_commands.describe(text=N_("Words added to the end of every prompt; leave empty to remove"))
    async def suffix(
        self, interaction: discord.Interaction, text: Range[str, 1, MAX_SUFFIX] | None = None
    ) -> None:
        guild_id, user_id = self._member(interaction)
        saved = await self.bot.services.preferences.set_suffix(guild_id, user_id, text)
        await self._show(interaction, _(SUFFIX_SAVED if saved else SUFFIX_REMOVED))

    @prefer.command(
        name=NC_("command", "clear"),
        description=N_("Forget all your preferences and option sets in this server."),
    )
    async def clear(self, interaction: discord.Interaction) -> None:
        guild_id, user_id = self._member(interaction)
        cleared = await self.bot.services.preferences.clear(guild_id, user_id)
        await self._show(interaction, _(CLEARED if cleared else NOTHING_TO_CLEAR))

    @option.command(
        name=NC_("command", "set"),
        description=N_("Add an option set, or change the one of that name."),
    )
    @app_commands.rename(name=NC_("option", "name"), value=NC_("option", "value"))
    @app_commands.describe(
        name=N_("Letters only; type --name in a prompt to use it"),
        value=N_("What it stands for, e.g. --ar 16:9 cinematic lighting"),
    )
    async def set_option(
        self,
        interaction: discord.Interaction,
        name: Range[str, 1, MAX_OPTION_SET_NAME + 2],
        value: Range[str, 1, MAX_OPTION_SET_VALUE],
    ) -> None:
        guild_id, user_id = self._member(interaction)
        saved = await self.bot.services.preferences.set_option_set(guild_id, user_id, name, value)
        await interaction.response.send_message(option_set_saved_line(*saved), ephemeral=True)

    @option.command(name=NC_("command", "list"), description=N_("Your option sets in this server."))
    async def list_options(self, interaction: discord.Interaction) -> None:
        guild_id, user_id = self._member(interaction)
        preferences = await self.bot.services.preferences.of(guild_id, user_id)
        text = option_sets_text(preferences.option_sets)
        await interaction.response.send_message(text, ephemeral=True)

    @option.command(
        name=NC_("command", "delete"), description=N_("Delete one of your option sets.")
    )
    @app_commands.rename(name=NC_("option", "name"))
    @app_commands.describe(name=N_("The option set to delete"))
    async def delete_option(
        self, interaction: discord.Interaction, name: Range[str, 1, MAX_OPTION_SET_NAME + 2]
    ) -> None:
        guild_id, user_id = self._member(interaction)
        deleted = await self.bot.services.preferences.delete_option_set(guild_id, user_id, name)
        await interaction.response.send_message(option_set_deleted_line(deleted), ephemeral=True)

    @delete_option.autocomplete("name")
    async def _option_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        guild_id, user_id = self._member(interaction)
        preferences = await self.bot.services.preferences.of(guild_id, user_id)
        typed = current.strip().removeprefix("--").lower()
        names = [name for name in preferences.option_sets if typed in name]
        return [app_commands.Choice(name=f"--{name}", value=name) for name in names[:25]]


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(PreferencesCog(bot))

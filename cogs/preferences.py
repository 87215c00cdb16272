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
        name="prefer", description="Your own defaults for /imagine in this server", guild_only=True
    )
    option = app_commands.Group(
        name="option",
        description="Option sets: --name in a prompt for words and flags",
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

    @prefer.command(name="show")
    async def show(self, interaction: discord.Interaction) -> None:
        """Your defaults, suffix and option sets in this server."""
        await self._show(interaction)

    @prefer.command(name="set")
    @app_commands.rename(output_format="format")
    @app_commands.describe(
        size="The size your images get unless you pick one",
        output_format="The file type your images get unless you pick one",
        count="How many images a prompt makes unless you say",
    )
    @app_commands.choices(size=SIZE_CHOICES, output_format=FORMAT_CHOICES)
    async def set_defaults(
        self,
        interaction: discord.Interaction,
        size: str | None = None,
        output_format: str | None = None,
        count: Range[int, 1, MAX_COUNT] | None = None,
    ) -> None:
        """Change your defaults; those you leave out stay as they are."""
        guild_id, user_id = self._member(interaction)
        await self.bot.services.preferences.set_defaults(
            guild_id, user_id, size=size, output_format=output_format, count=count
        )
        await self._show(interaction, SAVED)

    @prefer.command(name="suffix")
    @app_commands.describe(text="Words added to the end of every prompt; leave empty to remove")
    async def suffix(
        self, interaction: discord.Interaction, text: Range[str, 1, MAX_SUFFIX] | None = None
    ) -> None:
        """Words added to the end of each of your prompts in this server."""
        guild_id, user_id = self._member(interaction)
        saved = await self.bot.services.preferences.set_suffix(guild_id, user_id, text)
        await self._show(interaction, SUFFIX_SAVED if saved else SUFFIX_REMOVED)

    @prefer.command(name="clear")
    async def clear(self, interaction: discord.Interaction) -> None:
        """Forget all your preferences and option sets in this server."""
        guild_id, user_id = self._member(interaction)
        cleared = await self.bot.services.preferences.clear(guild_id, user_id)
        await self._show(interaction, CLEARED if cleared else NOTHING_TO_CLEAR)

    @option.command(name="set")
    @app_commands.describe(
        name="Letters only; type --name in a prompt to use it",
        value="What it stands for, e.g. --ar 16:9 cinematic lighting",
    )
    async def set_option(
        self,
        interaction: discord.Interaction,
        name: Range[str, 1, MAX_OPTION_SET_NAME + 2],
        value: Range[str, 1, MAX_OPTION_SET_VALUE],
    ) -> None:
        """Add an option set, or change the one of that name."""
        guild_id, user_id = self._member(interaction)
        saved = await self.bot.services.preferences.set_option_set(guild_id, user_id, name, value)
        await interaction.response.send_message(option_set_saved_line(*saved), ephemeral=True)

    @option.command(name="list")
    async def list_options(self, interaction: discord.Interaction) -> None:
        """Your option sets in this server."""
        guild_id, user_id = self._member(interaction)
        preferences = await self.bot.services.preferences.of(guild_id, user_id)
        text = option_sets_text(preferences.option_sets)
        await interaction.response.send_message(text, ephemeral=True)

    @option.command(name="delete")
    @app_commands.describe(name="The option set to delete")
    async def delete_option(
        self, interaction: discord.Interaction, name: Range[str, 1, MAX_OPTION_SET_NAME + 2]
    ) -> None:
        """Delete one of your option sets."""
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

"""What /imagine offers while a prompt is typed: the member's own favourite and recent
prompts in this server."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.core.ports import StorageUnavailable
from bot.discord_bot import ImagineBot
from cogs._render_history import prompt_choice

log = logging.getLogger(__name__)


async def prompt_choices(
    bot: ImagineBot, interaction: discord.Interaction, typed: str
) -> list[app_commands.Choice[str]]:
    """Nothing in direct messages, and nothing (rather than an error) when the ledger cannot
    be read: the member can always type the prompt."""
    if interaction.guild_id is None:
        return []
    try:
        found = await bot.services.history.prompt_choices(
            interaction.guild_id, interaction.user.id, typed
        )
    except StorageUnavailable as error:
        log.warning("no prompt history for user %s: %s", interaction.user.id, error)
        return []
    return [prompt_choice(choice) for choice in found]

"""One place that turns any error from an app command, a button or a modal into a reply the
user can see."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.refusals import Refused
from cogs._render import failure_line, refusal_text

log = logging.getLogger(__name__)

PERMISSION_NAMES = {"manage_guild": "Manage Server", "manage_messages": "Manage Messages"}
UNKNOWN_INTERACTION = 10062
UNEXPECTED = "Something went wrong on my side. It has been logged; please try again."


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """Refusals and permission problems get their own short sentence; anything else is logged
    with its traceback and gets a generic one. Never leaves a spinner behind."""
    original = getattr(error, "original", error)
    if isinstance(original, discord.NotFound) and original.code == UNKNOWN_INTERACTION:
        # Too late to answer at all (the 3 s window passed); any reply would fail the same way.
        log.warning("interaction %s expired before it was answered", interaction.id)
        return
    if isinstance(original, Refused):
        message = refusal_text(original)
    elif isinstance(error, app_commands.MissingPermissions):
        names = ", ".join(
            PERMISSION_NAMES.get(p, p.replace("_", " ").title()) for p in error.missing_permissions
        )
        message = f"You need the {names} permission for that."
    elif isinstance(error, app_commands.NoPrivateMessage):
        message = "That only works in a server."
    else:
        command = interaction.command.qualified_name if interaction.command else "interaction"
        log.error("unexpected error in %s", command, exc_info=original)
        message = UNEXPECTED
    try:
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            await interaction.edit_original_response(
                content=failure_line(message), embeds=[], attachments=[]
            )
        elif interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not report an error to interaction %s", interaction.id, exc_info=True)


class ErrorReportingTree(app_commands.CommandTree[commands.Bot]):
    """The bot's command tree: every command's error reaches `report_error`."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)

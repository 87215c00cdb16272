"""One place that turns any error from an app command, a button or a modal into a reply the
user can see."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.refusals import Refused
from cogs._i18n import N_, _, use_locale
from cogs._render import failure_line, refusal_text

log = logging.getLogger(__name__)

PERMISSION_NAMES = {"manage_guild": N_("Manage Server"), "manage_messages": N_("Manage Messages")}
UNKNOWN_INTERACTION = 10062
UNEXPECTED = N_("Something went wrong on my side. It has been logged; please try again.")


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
            _(PERMISSION_NAMES[p]) if p in PERMISSION_NAMES else p.replace("_", " ").title()
            for p in error.missing_permissions
        )
        message = _("You need the {names} permission for that.", names=names)
    elif isinstance(error, app_commands.NoPrivateMessage):
        message = _("That only works in a server.")
    else:
        command = interaction.command.qualified_name if interaction.command else "interaction"
        log.error("unexpected error in %s", command, exc_info=original)
        message = _(UNEXPECTED)
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
    """The bot's command tree: every command and context menu answers in the member's
    language, and every error reaches `report_error`."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        use_locale(interaction.locale)
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)

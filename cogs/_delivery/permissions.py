"""Who may ask for an image where: the one rule every entry point uses."""

from __future__ import annotations

import discord

from bot.core.models import Requester
from bot.core.refusals import Refused
from bot.discord_bot import ImagineBot

# An interaction's reply is edited through its webhook: showing an image there needs these.
TO_SHOW_IMAGES = discord.Permissions(attach_files=True, embed_links=True)
# A reply to a member's message is a message of the bot's own, posted as a reply.
TO_REPLY_WITH_IMAGES = TO_SHOW_IMAGES | discord.Permissions(
    send_messages=True, read_message_history=True
)
NO_DMS = "I make images in servers, not in direct messages."
CANNOT_POST = (
    "I need the Attach Files and Embed Links permissions in this channel to post images. "
    "Ask a moderator, or try another channel."
)


def may_answer(
    bot: ImagineBot,
    guild_id: int | None,
    permissions: discord.Permissions,
    needed: discord.Permissions,
) -> None:
    """Refuse, with a sentence for the member, where the bot cannot answer with an image."""
    if guild_id is None:
        if not bot.settings.allow_dms:
            raise Refused(NO_DMS)
        return
    if not permissions.is_superset(needed):
        raise Refused(CANNOT_POST)


def requester_for(bot: ImagineBot, interaction: discord.Interaction) -> Requester:
    """Who is asking and where, once the bot knows it can answer there at all."""
    may_answer(bot, interaction.guild_id, interaction.app_permissions, TO_SHOW_IMAGES)
    return Requester(interaction.user.id, interaction.guild_id, interaction.channel_id or 0)


def role_ids(user: discord.abc.User) -> list[int]:
    return [role.id for role in user.roles] if isinstance(user, discord.Member) else []

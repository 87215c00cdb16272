"""Who may ask for an image where: the one rule every entry point uses."""

from __future__ import annotations

import discord

from bot.core.models import Requester
from bot.core.refusals import Refused
from bot.discord_bot import ImagineBot
from cogs._i18n import N_

# An interaction's reply is edited through its webhook: showing an image there needs these.
TO_SHOW_IMAGES = discord.Permissions(attach_files=True, embed_links=True)
# A reply to a member's message is a message of the bot's own, posted as a reply.
TO_REPLY_WITH_IMAGES = TO_SHOW_IMAGES | discord.Permissions(
    send_messages=True, read_message_history=True
)
NO_DMS = N_("I make images in servers, not in direct messages.")
CANNOT_POST = N_(
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


SPOILERED = "spoiler"
REFUSED_OUTSIDE_AGE_RESTRICTED = "refuse"
NOT_HERE = N_("This server makes images only in age-restricted channels.")


def age_restricted(channel: object) -> bool:
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


async def spoiler_policy_for(bot: ImagineBot, guild_id: int | None, channel: object) -> bool:
    """Whether results here go behind a spoiler; Refused where the server makes none here.
    Age-restricted channels are never affected; a channel the bot cannot see counts as not
    age-restricted, the safe side."""
    if guild_id is None or age_restricted(channel):
        return False
    policy = (await bot.services.policy.settings(guild_id)).spoiler_policy
    if policy == REFUSED_OUTSIDE_AGE_RESTRICTED:
        raise Refused(NOT_HERE)
    return policy == SPOILERED


def requester_for(bot: ImagineBot, interaction: discord.Interaction) -> Requester:
    """Who is asking and where, once the bot knows it can answer there at all."""
    may_answer(bot, interaction.guild_id, interaction.app_permissions, TO_SHOW_IMAGES)
    return Requester(interaction.user.id, interaction.guild_id, interaction.channel_id or 0)


def role_ids(user: discord.abc.User) -> list[int]:
    return [role.id for role in user.roles] if isinstance(user, discord.Member) else []

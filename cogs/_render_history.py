"""How history looks: prompt choices while typing, favourites, the gallery, a result shown
again."""

from __future__ import annotations

from datetime import UTC, datetime

import discord
from discord import app_commands

from bot.core.history import GalleryPage
from bot.core.models import GalleryEntry, Job, MessageRef, PromptChoice
from cogs._i18n import N_, _
from cogs._render import EMBED_COLOUR, trimmed

CHOICE_NAME_LENGTH = 100  # Discord's limit for a choice's name
PROMPT_IN_GALLERY = 80

FAVOURITE_ADDED = N_(
    "⭐ Added to your favourites: its prompt now comes first as you type /imagine."
)
FAVOURITE_REMOVED = N_("Removed from your favourites.")
RESULT_UNREACHABLE = N_("I can't read the channel that image is in any more, so I can't show it.")
RESULT_NOT_YOURS_TO_SEE = N_("That image is in a channel you can't see.")
NOT_IN_SERVER = N_("That works only in a server I am in.")
NO_IMAGE_TO_SHOW = N_("That image's message no longer holds the image.")
PREVIOUS_PAGE, NEXT_PAGE = N_("◀ Previous"), N_("Next ▶")


def prompt_choice(choice: PromptChoice) -> app_commands.Choice[str]:
    """A favourite is starred; the value is the prompt itself, which fits (≤ 100 characters)."""
    name = f"⭐ {choice.prompt}" if choice.favourite else choice.prompt
    return app_commands.Choice(name=trimmed(name, CHOICE_NAME_LENGTH), value=choice.prompt)


def jump_url(guild_id: int, message: MessageRef) -> str:
    return f"https://discord.com/channels/{guild_id}/{message.channel_id}/{message.message_id}"


def _gallery_line(guild_id: int, entry: GalleryEntry, *, with_author: bool) -> str:
    prompt = " ".join(entry.prompt.split())  # a modal's prompt may hold line breaks
    text = discord.utils.escape_markdown(trimmed(prompt, PROMPT_IN_GALLERY)).replace("]", "\\]")
    line = f"`{entry.job_id}` [{text}]({jump_url(guild_id, entry.result)})"
    if with_author:
        line += f" · <@{entry.user_id}>"  # mentions in an embed never ping
    made_at = datetime.fromtimestamp(entry.created_at, UTC)
    return f"{line} · {discord.utils.format_dt(made_at, 'R')}"


def gallery_embed(guild_id: int, page: GalleryPage, *, server: bool) -> discord.Embed:
    """One page of results, each linking to its message; the job number is what /show takes."""
    title = _("Images in this server") if server else _("Your images")
    if page.entries:
        lines = [_gallery_line(guild_id, entry, with_author=server) for entry in page.entries]
        description = "\n".join(lines)
    elif page.page == 0:
        description = _("No images yet. Make one with /imagine.")
    else:
        description = _("No more images.")
    embed = discord.Embed(title=title, description=description, colour=EMBED_COLOUR)
    embed.set_footer(text=_("Page {page} · /show job:<number> posts one again", page=page.page + 1))
    return embed


def shown_again_line(job: Job, viewer: discord.abc.User, guild_id: int) -> str:
    """Above a result posted again: who asked for it again, and where it first was."""
    assert job.result_message is not None
    original = jump_url(guild_id, job.result_message)
    return _(
        "🔁 Job {id}, shown again by {viewer} ([first posted here]({url})).",
        id=job.id,
        viewer=viewer.mention,
        url=original,
    )

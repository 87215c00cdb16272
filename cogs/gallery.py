"""/gallery pages through delivered results; /show posts one of them again, with its buttons,
at no cost: the image is fetched back from its message, not made again."""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot.core.history import NOT_POSTED
from bot.core.limits import check_request
from bot.core.models import Job, MessageRef
from bot.core.refusals import Refused
from bot.discord_bot import ImagineBot
from cogs._delivery.permissions import requester_for, spoiler_policy_for
from cogs._delivery.replies import ImageFile
from cogs._delivery.result_files import SPOILER_PREFIX, job_attachment
from cogs._i18n import N_, NC_, _
from cogs._render_history import (
    NEXT_PAGE,
    NO_IMAGE_TO_SHOW,
    NOT_IN_SERVER,
    PREVIOUS_PAGE,
    RESULT_NOT_YOURS_TO_SEE,
    RESULT_UNREACHABLE,
    gallery_embed,
    shown_again_line,
)
from cogs._result_buttons import result_view

GALLERY_COG = "Gallery"
MAX_JOB_ID = 2**53 - 1  # the largest integer option Discord accepts; beyond any ledger


class PageTurner(Protocol):
    async def turn_page(
        self, interaction: discord.Interaction, *, server: bool, page: int
    ) -> None: ...


class GalleryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"imagine-gallery:(?P<scope>mine|server):(?P<page>[0-9]+)",
):
    """Previous or Next under a gallery page. The custom id carries the page it opens, so the
    buttons keep working after a restart; the page is read again when clicked."""

    def __init__(self, server: bool, page: int, *, label: str = "", disabled: bool = False):
        scope = "server" if server else "mine"
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                disabled=disabled,
                custom_id=f"imagine-gallery:{scope}:{page}",
            )
        )
        self.server = server
        self.page = page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> GalleryButton:
        return cls(match["scope"] == "server", int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = (
            interaction.client.get_cog(GALLERY_COG)
            if isinstance(interaction.client, ImagineBot)
            else None
        )
        if cog is None:
            raise RuntimeError("gallery buttons clicked before the gallery cog loaded")
        await cast(PageTurner, cog).turn_page(interaction, server=self.server, page=self.page)


def _member(interaction: discord.Interaction) -> discord.Member:
    if not isinstance(interaction.user, discord.Member) or interaction.guild is None:
        raise Refused(NOT_IN_SERVER)
    return interaction.user


def visible_channel_ids(interaction: discord.Interaction) -> list[int]:
    """The channels and threads of this server the member can see: the server's gallery lists
    only results shown there, so that no prompt from a private channel leaks."""
    member = _member(interaction)
    guild = member.guild
    places = [*guild.channels, *guild.threads]
    return [place.id for place in places if place.permissions_for(member).view_channel]


class Gallery(commands.Cog, name=GALLERY_COG):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(GalleryButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(GalleryButton)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, event: discord.RawMessageDeleteEvent) -> None:
        """A result deleted (by its Delete button or a moderator) leaves the gallery."""
        if event.guild_id is not None:
            await self.bot.services.history.messages_deleted([event.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, event: discord.RawBulkMessageDeleteEvent) -> None:
        if event.guild_id is not None:
            await self.bot.services.history.messages_deleted(event.message_ids)

    @app_commands.command(
        name=NC_("command", "gallery"),
        description=N_(
            "Your recent images, ten a page, each linking to its message (only you see this)."
        ),
    )
    @app_commands.guild_only()
    @app_commands.rename(server=NC_("option", "server"))
    @app_commands.describe(
        server=N_("Everyone's images in the channels you can see, not only yours")
    )
    async def gallery(self, interaction: discord.Interaction, server: bool = False) -> None:
        embed, view = await self._page(interaction, server=server, page=0)
        await interaction.response.send_message(
            embed=embed, view=view or discord.utils.MISSING, ephemeral=True
        )

    async def turn_page(self, interaction: discord.Interaction, *, server: bool, page: int) -> None:
        embed, view = await self._page(interaction, server=server, page=page)
        await interaction.response.edit_message(embed=embed, view=view)

    async def _page(
        self, interaction: discord.Interaction, *, server: bool, page: int
    ) -> tuple[discord.Embed, discord.ui.View | None]:
        guild_id = _member(interaction).guild.id
        found = await self.bot.services.history.gallery(
            guild_id,
            user_id=None if server else interaction.user.id,
            channel_ids=visible_channel_ids(interaction) if server else None,
            page=page,
        )
        embed = gallery_embed(guild_id, found, server=server)
        if not (found.has_previous or found.has_next):
            return embed, None
        view = discord.ui.View(timeout=None)
        previous = GalleryButton(
            server, max(found.page - 1, 0), label=_(PREVIOUS_PAGE), disabled=not found.has_previous
        )
        following = GalleryButton(
            server, found.page + 1, label=_(NEXT_PAGE), disabled=not found.has_next
        )
        view.add_item(previous).add_item(following)
        return embed, view

    @app_commands.command(
        name=NC_("command", "show"),
        description=N_(
            "Post one of this server's images again, with its buttons. Nothing is spent."
        ),
    )
    @app_commands.guild_only()
    @app_commands.rename(job=NC_("option", "job"))
    @app_commands.describe(
        job=N_("The image's job number, as /gallery and the result's footer show")
    )
    async def show(self, interaction: discord.Interaction, job: Range[int, 1, MAX_JOB_ID]) -> None:
        member = _member(interaction)
        found = await self.bot.services.history.showable(member.guild.id, job)
        spoiler = await self._may_post_here(interaction, found)
        assert found.result_message is not None  # showable() guarantees it
        message = await self._result_message(member, found.result_message)
        attachment = job_attachment(message, found.id)
        if attachment is None:
            raise Refused(NO_IMAGE_TO_SHOW)
        await interaction.response.defer(thinking=True)
        image = await _downloaded(attachment, spoiler=spoiler)
        await interaction.edit_original_response(
            content=shown_again_line(found, member, member.guild.id),
            embed=_embed_for(message, image, spoiler=spoiler) or discord.utils.MISSING,
            attachments=[image.to_file()],
            view=result_view(found.id, found.request.size),
        )

    async def _may_post_here(self, interaction: discord.Interaction, job: Job) -> bool:
        """The rules of a new image apply to one shown again: where the bot may post images,
        the channels /imagine is allowed in, the blocked words, and the server's rule for
        channels that are not age-restricted. Returns whether it goes behind a spoiler."""
        requester = requester_for(self.bot, interaction)
        limits = await self.bot.services.policy.limits_for(requester.guild_id)
        check_request(limits, requester.channel_id, job.request.prompt)
        return await spoiler_policy_for(self.bot, requester.guild_id, interaction.channel)

    async def _result_message(self, member: discord.Member, result: MessageRef) -> discord.Message:
        """The result's message, fetched now (for fresh attachment URLs), once the member is
        known to see its channel; a channel the bot no longer knows counts as unseen."""
        place = member.guild.get_channel_or_thread(result.channel_id)
        if place is None:
            raise Refused(RESULT_UNREACHABLE)
        if not place.permissions_for(member).view_channel:
            raise Refused(RESULT_NOT_YOURS_TO_SEE)
        channel = self.bot.get_partial_messageable(result.channel_id, guild_id=member.guild.id)
        try:
            return await channel.fetch_message(result.message_id)
        except discord.NotFound:
            raise Refused(NOT_POSTED) from None
        except discord.Forbidden:
            raise Refused(RESULT_UNREACHABLE) from None


async def _downloaded(attachment: discord.Attachment, *, spoiler: bool) -> ImageFile:
    """The image, read from the URL the fetch just gave (stored attachment URLs expire), named
    for where it goes now."""
    try:
        data = await attachment.read()
    except discord.HTTPException:
        raise Refused(NOT_POSTED) from None
    name = attachment.filename.removeprefix(SPOILER_PREFIX)
    return ImageFile(data, (SPOILER_PREFIX if spoiler else "") + name)


def _embed_for(
    message: discord.Message, image: ImageFile, *, spoiler: bool
) -> discord.Embed | None:
    """The result's own details, showing the new upload; a spoilered image stays out of the
    embed, which would show it."""
    if not message.embeds:
        return None
    embed = message.embeds[0].copy()
    return embed.set_image(url=None if spoiler else f"attachment://{image.filename}")


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Gallery(bot))

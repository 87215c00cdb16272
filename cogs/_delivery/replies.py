"""The places a job's reply can live, behind one `Reply` protocol: the response to an
interaction, a message the bot posted in reply to a member's, or, after a restart, whichever
of those the ledger says the job had."""

from __future__ import annotations

import dataclasses
import io
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol, cast

import discord

from bot.core.models import Job, ReplyKind
from bot.discord_bot import ImagineBot
from cogs._render import queued_line

log = logging.getLogger(__name__)

TOKEN_MARGIN_SECONDS = 60.0  # stop using an interaction token this close to its end
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_WEBHOOK = 10015
# Discord's webhook message routes take "@original" for an interaction's first response, so
# no message id need be kept; discord.py puts the value into the URL as it is.
ORIGINAL_RESPONSE = cast(int, "@original")


@dataclasses.dataclass(frozen=True)
class ImageFile:
    data: bytes
    filename: str

    def to_file(self) -> discord.File:
        # A discord.File is consumed by one upload, so each attempt makes a fresh one.
        return discord.File(io.BytesIO(self.data), filename=self.filename)


class Reply(Protocol):
    """Where a job's progress and outcome appear."""

    @property
    def filesize_limit(self) -> int: ...

    async def show(self, content: str, view: discord.ui.View | None = None) -> None:
        """Replace the progress line, and the buttons under it (none when `view` is None)."""

    async def finish(
        self,
        content: str,
        embed: discord.Embed | None = None,
        images: Sequence[ImageFile] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        """Replace everything with the final state; returns the message now showing it."""


def token_usable(expires_at: float) -> bool:
    """The one rule for interaction tokens: usable until a margin before they expire."""
    return time.time() < expires_at - TOKEN_MARGIN_SECONDS


def token_gone(error: discord.HTTPException) -> bool:
    """The token or its message no longer exists. Every further try would be an invalid
    request, which Discord counts towards a ban, so callers stop using it."""
    return isinstance(error, discord.NotFound) or error.code in (
        INVALID_WEBHOOK_TOKEN,
        UNKNOWN_WEBHOOK,
    )


def _final_fields(
    content: str,
    embed: discord.Embed | None,
    images: Sequence[ImageFile],
    view: discord.ui.View | None,
) -> dict[str, Any]:
    return {
        "content": content,
        "embeds": [embed] if embed else [],
        "attachments": [image.to_file() for image in images],
        "view": view,
    }


async def _post_for(
    channel: discord.abc.Messageable,
    user_id: int,
    content: str,
    embed: discord.Embed | None,
    images: Sequence[ImageFile],
    view: discord.ui.View | None,
) -> discord.Message:
    """Post the outcome as a new channel message that notifies the requester, and nobody else
    (AllowedMentions' own defaults would allow everything)."""
    log.info("posting the outcome for user %s to channel %s", user_id, getattr(channel, "id", "?"))
    return await channel.send(
        content=f"<@{user_id}> {content}".strip(),
        embed=embed or discord.utils.MISSING,
        files=[image.to_file() for image in images],
        view=view or discord.utils.MISSING,
        allowed_mentions=discord.AllowedMentions(
            everyone=False, roles=False, replied_user=False, users=[discord.Object(user_id)]
        ),
    )


class InteractionReply:
    """The deferred response to an interaction; the channel once its token is spent."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction
        self._token_dead = False

    @property
    def filesize_limit(self) -> int:
        return self._interaction.filesize_limit

    def _token_usable(self) -> bool:
        return not self._token_dead and token_usable(self._interaction.expires_at.timestamp())

    async def show(self, content: str, view: discord.ui.View | None = None) -> None:
        if self._token_usable():
            await self._edit(content=content, view=view)

    async def finish(
        self,
        content: str,
        embed: discord.Embed | None = None,
        images: Sequence[ImageFile] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        if self._token_usable():
            edited = await self._edit(**_final_fields(content, embed, images, view))
            if edited is not None:
                return edited
        channel = self._interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError("interaction has no channel to post in")
        return await _post_for(channel, self._interaction.user.id, content, embed, images, view)

    async def _edit(self, **fields: Any) -> discord.Message | None:
        try:
            return await self._interaction.edit_original_response(**fields)
        except discord.HTTPException as error:
            if not token_gone(error):
                raise
            self._token_dead = True
            return None


class MessageReply:
    """A message the bot posted in reply to another, then edits."""

    def __init__(self, message: discord.Message, filesize_limit: int):
        self._message = message
        self._filesize_limit = filesize_limit
        self._shown = message.content

    @classmethod
    async def post(cls, anchor: discord.Message) -> MessageReply:
        message = await anchor.reply(queued_line(), mention_author=False)
        return cls(message, filesize_limit(anchor.guild))

    @property
    def filesize_limit(self) -> int:
        return self._filesize_limit

    @property
    def message_id(self) -> int:
        return self._message.id

    async def show(self, content: str, view: discord.ui.View | None = None) -> None:
        if content != self._shown:  # it was posted showing the queue already
            await self._message.edit(content=content, view=view)
            self._shown = content

    async def finish(
        self,
        content: str,
        embed: discord.Embed | None = None,
        images: Sequence[ImageFile] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        return await self._message.edit(**_final_fields(content, embed, images, view))


class ResumedReply:
    """After a restart: the job's interaction response while its token lasts, its reply
    message, or else a new message in the channel that notifies the requester."""

    def __init__(self, bot: ImagineBot, job: Job) -> None:
        self._bot = bot
        self._job = job
        guild_id = job.requester.guild_id
        self._channel = bot.get_partial_messageable(job.requester.channel_id, guild_id=guild_id)

    @property
    def filesize_limit(self) -> int:
        guild_id = self._job.requester.guild_id
        return filesize_limit(self._bot.get_guild(guild_id) if guild_id else None)

    async def show(self, content: str, view: discord.ui.View | None = None) -> None:
        """No progress after a restart: the outcome is moments away."""

    async def finish(
        self,
        content: str,
        embed: discord.Embed | None = None,
        images: Sequence[ImageFile] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        reply = self._job.reply
        fields = _final_fields(content, embed, images, view)
        if reply.kind is ReplyKind.MESSAGE and reply.message_id is not None:
            return await self._channel.get_partial_message(reply.message_id).edit(**fields)
        if (
            reply.kind is ReplyKind.INTERACTION
            and reply.token
            and token_usable(reply.token_expires_at or 0.0)
        ):
            webhook = discord.Webhook.partial(
                self._bot.application_id or 0, reply.token, client=self._bot
            )
            try:
                return await webhook.edit_message(ORIGINAL_RESPONSE, **fields)
            except discord.HTTPException as error:
                if not token_gone(error):
                    raise
        user_id = self._job.requester.user_id
        return await _post_for(self._channel, user_id, content, embed, images, view)


def filesize_limit(guild: discord.Guild | None) -> int:
    return guild.filesize_limit if guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

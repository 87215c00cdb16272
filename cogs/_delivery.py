"""Running a job while a Discord reply shows its progress, then delivering its outcome.

The same flow serves every entry point; only the reply differs: the response to an interaction
(a slash command, a modal, a button), a message the bot posts in reply to someone else's, or,
after a restart, whichever of those the ledger says the job had.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import discord

from bot.core.imaging import fit_for_upload
from bot.core.models import Job, ReplyKind, ReplyPlace, Requester
from bot.core.polling import Estimate
from bot.core.refusals import Refused
from bot.core.requests import GenerationRequest
from bot.core.runner import Downloading, JobEvent, JobResult, Queued, ShuttingDown, Submitted
from bot.discord_bot import ImagineBot
from bot.vibedream import VibeDreamError
from cogs._render import (
    failure_line,
    mod_log_embed,
    progress_line,
    queued_line,
    result_embed,
)
from cogs._result_buttons import result_view

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.5  # seconds between progress edits of one reply
TOKEN_MARGIN = timedelta(seconds=60)  # stop using an interaction token this close to its end
TOO_LARGE = "The image is too large to upload here."
RESTARTING = "⏳ The bot is restarting; your image will be delivered when it is back."
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_WEBHOOK = 10015
TOKEN_GONE = (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK)


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

    async def show(self, content: str) -> int | None:
        """Replace the progress line; returns the id of the message showing it, if known."""

    async def finish(
        self,
        content: str,
        embed: discord.Embed | None = None,
        image: ImageFile | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        """Replace everything with the final state; returns the message now showing it."""


def _final_fields(
    content: str, embed: discord.Embed | None, image: ImageFile | None, view: discord.ui.View | None
) -> dict[str, Any]:
    return {
        "content": content,
        "embeds": [embed] if embed else [],
        "attachments": [image.to_file()] if image else [],
        "view": view,
    }


async def _post_for(
    channel: discord.abc.Messageable,
    user_id: int,
    content: str,
    embed: discord.Embed | None,
    image: ImageFile | None,
    view: discord.ui.View | None,
) -> discord.Message:
    """Post the outcome as a new channel message that notifies the requester, and nobody else
    (AllowedMentions' own defaults would allow everything)."""
    return await channel.send(
        content=f"<@{user_id}> {content}".strip(),
        embed=embed or discord.utils.MISSING,
        file=image.to_file() if image else discord.utils.MISSING,
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
        near_end = discord.utils.utcnow() >= self._interaction.expires_at - TOKEN_MARGIN
        return not (self._token_dead or near_end)

    async def show(self, content: str) -> int | None:
        if not self._token_usable():
            return None
        message = await self._edit(content=content)
        return message.id if message else None

    async def finish(
        self,
        content: str,
        embed: discord.Embed | None = None,
        image: ImageFile | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        if self._token_usable():
            edited = await self._edit(**_final_fields(content, embed, image, view))
            if edited is not None:
                return edited
        channel = self._interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError("interaction has no channel to post in")
        log.info("interaction %s token spent; posting to the channel", self._interaction.id)
        return await _post_for(channel, self._interaction.user.id, content, embed, image, view)

    async def _edit(self, **fields: Any) -> discord.Message | None:
        try:
            return await self._interaction.edit_original_response(**fields)
        except discord.HTTPException as error:
            if error.code not in TOKEN_GONE:
                raise
            # Every further try would be an invalid request, which Discord counts towards a ban.
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
        return cls(message, _filesize_limit(anchor.guild))

    @property
    def filesize_limit(self) -> int:
        return self._filesize_limit

    @property
    def message_id(self) -> int:
        return self._message.id

    async def show(self, content: str) -> int | None:
        if content != self._shown:  # it was posted showing the queue already
            await self._message.edit(content=content)
            self._shown = content
        return self._message.id

    async def finish(
        self,
        content: str,
        embed: discord.Embed | None = None,
        image: ImageFile | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        return await self._message.edit(**_final_fields(content, embed, image, view))


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
        return _filesize_limit(self._bot.get_guild(guild_id) if guild_id else None)

    async def show(self, content: str) -> int | None:
        return None  # no progress after a restart: the outcome is moments away

    async def finish(
        self,
        content: str,
        embed: discord.Embed | None = None,
        image: ImageFile | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        reply = self._job.reply
        if reply.kind is ReplyKind.MESSAGE and reply.message_id is not None:
            message = self._channel.get_partial_message(reply.message_id)
            return await message.edit(**_final_fields(content, embed, image, view))
        if reply.message_id is not None and reply.token and self._token_usable():
            webhook = discord.Webhook.partial(
                self._bot.application_id or 0, reply.token, client=self._bot
            )
            try:
                return await webhook.edit_message(
                    reply.message_id, **_final_fields(content, embed, image, view)
                )
            except discord.HTTPException as error:
                gone = isinstance(error, discord.NotFound) or error.code in TOKEN_GONE
                if not gone:
                    raise
        user_id = self._job.requester.user_id
        return await _post_for(self._channel, user_id, content, embed, image, view)

    def _token_usable(self) -> bool:
        expires = self._job.reply.token_expires_at or 0.0
        return datetime.now(UTC).timestamp() < expires - TOKEN_MARGIN.total_seconds()


def _filesize_limit(guild: discord.Guild | None) -> int:
    return guild.filesize_limit if guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES


class LiveProgress:
    """Keeps a reply's progress line current: at most one edit per interval, none after stop."""

    def __init__(
        self,
        reply: Reply,
        on_first_message: Callable[[int], Awaitable[None]],
        *,
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reply = reply
        self._on_first_message = on_first_message
        self._interval = interval
        self._clock = clock
        self._phase = "Queued"
        self._estimate: Estimate | None = None
        self._since = clock()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def on_event(self, event: JobEvent) -> None:
        if isinstance(event, Queued) and self._task is None:
            self._task = asyncio.create_task(self._keep_current())
        elif isinstance(event, Submitted):
            self._phase, self._estimate, self._since = "Generating", event.estimate, self._clock()
        elif isinstance(event, Downloading):
            self._phase = "Finishing"

    def _line(self) -> str:
        if self._phase == "Queued":
            return queued_line()
        return progress_line(self._clock() - self._since, self._estimate, self._phase)

    async def _keep_current(self) -> None:
        shown, message_id = None, None
        while not self._stopped.is_set():
            line = self._line()
            if line != shown:
                try:
                    shown_in = await self._reply.show(line)
                    shown = line
                    if message_id is None and shown_in is not None:
                        message_id = shown_in
                        await self._on_first_message(message_id)
                except discord.HTTPException as error:
                    log.warning("progress edit failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)

    async def stop(self) -> None:
        """Stop editing; returns once no progress edit is in flight, so the final one is last."""
        self._stopped.set()
        if self._task is not None:
            await self._task


def role_ids(user: discord.abc.User) -> list[int]:
    return [role.id for role in user.roles] if isinstance(user, discord.Member) else []


def requester_for(bot: ImagineBot, interaction: discord.Interaction) -> Requester:
    """Who is asking and where, once the bot knows it can answer there at all."""
    if interaction.guild_id is None and not bot.settings.allow_dms:
        raise Refused("I make images in servers, not in direct messages.")
    permissions = interaction.app_permissions
    if interaction.guild_id is not None and not (
        permissions.attach_files and permissions.embed_links
    ):
        raise Refused(
            "I need the Attach Files and Embed Links permissions in this channel to post "
            "images. Ask a moderator, or try another channel."
        )
    return Requester(interaction.user.id, interaction.guild_id, interaction.channel_id or 0)


async def launch(
    bot: ImagineBot, interaction: discord.Interaction, request: GenerationRequest
) -> None:
    """Admit the job (a refusal stays private), answer publicly at once, then run it."""
    requester = requester_for(bot, interaction)
    reply = ReplyPlace.interaction(interaction.token, interaction.expires_at.timestamp())
    job = await bot.runner.admit(
        requester, request, role_ids=role_ids(interaction.user), reply=reply
    )
    with bot.tracking(asyncio.current_task()):
        await interaction.response.defer(thinking=True)
        await run_and_deliver(bot, job, InteractionReply(interaction), interaction.user)


async def mod_log_channel(
    bot: ImagineBot, guild_id: int | None
) -> discord.PartialMessageable | None:
    if guild_id is None:
        return None
    settings = await bot.database.guild_settings(guild_id)
    if settings.log_channel_id is None:
        return None
    return bot.get_partial_messageable(settings.log_channel_id, guild_id=guild_id)


async def run_and_deliver(
    bot: ImagineBot, job: Job, reply: Reply, requester: discord.abc.User
) -> None:
    """Execute an admitted job with live progress, then deliver its outcome."""

    async def remember_message(message_id: int) -> None:
        await bot.database.set_reply(job.id, dataclasses.replace(job.reply, message_id=message_id))

    progress = LiveProgress(reply, remember_message)
    try:
        result = await bot.runner.execute(job, progress.on_event)
    except VibeDreamError as error:
        await progress.stop()  # the failure line must be the last edit
        log.warning("job %s failed for user %s: %s", job.id, requester.id, error.detail)
        await deliver_failure(bot, job, reply, error.user_message)
        return
    except (asyncio.CancelledError, ShuttingDown) as stopping:
        # The ledger keeps the job for the next start to deliver or release.
        await progress.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(reply.show(RESTARTING)), timeout=2)
        if isinstance(stopping, asyncio.CancelledError):
            raise
        return
    finally:
        await progress.stop()  # returns at once when already stopped
    await deliver_result(bot, job, result, reply, requester)


async def deliver_result(
    bot: ImagineBot,
    job: Job,
    result: JobResult,
    reply: Reply,
    requester: discord.abc.User | None,
) -> None:
    """Post the image with its details and buttons, fitted to the upload limit."""
    fitted = await asyncio.to_thread(fit_for_upload, result.image, reply.filesize_limit)
    if fitted is None:
        log.warning("job %s: image too large for a %d-byte limit", job.id, reply.filesize_limit)
        await deliver_failure(bot, job, reply, TOO_LARGE)
        return
    result = dataclasses.replace(result, image=fitted)
    image = ImageFile(fitted.data, f"imagine-{job.id}.{fitted.extension}")
    embed = result_embed(result, image.filename, requester, reference_url=job.request.image)
    shown = await reply.finish("", embed, image, result_view(job.id))
    await _delivered(bot, job, shown, failure=None)


async def deliver_failure(bot: ImagineBot, job: Job, reply: Reply, message: str) -> None:
    shown = await reply.finish(failure_line(message))
    await _delivered(bot, job, shown, failure=message)


async def _delivered(
    bot: ImagineBot, job: Job, shown: discord.Message | None, *, failure: str | None
) -> None:
    """The requester has seen the outcome: note it, and record it in the moderation log."""
    await bot.database.mark_delivered(job.id)
    mod_log = await mod_log_channel(bot, job.requester.guild_id)
    if mod_log is None:
        return
    entry = mod_log_embed(job, shown.jump_url if shown else None, failure)
    try:
        await mod_log.send(embed=entry)
    except discord.HTTPException as error:
        log.warning("could not write job %s to the moderation log: %s", job.id, error)

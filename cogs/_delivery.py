"""Running an admitted job while a Discord reply shows its progress, then its result.

The same flow serves every entry point; only the reply differs: the response to an interaction
(a slash command or a modal), or a message the bot posts in reply to someone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import discord

from bot.db import Job
from bot.imaging import fit_for_upload
from bot.jobs import Downloading, JobEvent, JobRunner, Queued, Submitted
from bot.polling import Estimate
from bot.vibedream import VibeDreamError
from cogs._render import (
    failure_line,
    mod_log_embed,
    progress_line,
    queued_line,
    result_embed,
)

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.5  # seconds between progress edits of one reply
TOKEN_MARGIN = timedelta(seconds=60)  # stop using an interaction token this close to its end
TOO_LARGE = "The image is too large to upload here."
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_WEBHOOK = 10015


@dataclasses.dataclass(frozen=True)
class ImageFile:
    data: bytes
    filename: str

    def to_file(self) -> discord.File:
        # A discord.File is consumed by one upload, so each attempt makes a fresh one.
        return discord.File(io.BytesIO(self.data), filename=self.filename)


class Reply(Protocol):
    """Where a job's progress and result appear."""

    @property
    def filesize_limit(self) -> int: ...

    async def show(self, content: str) -> None:
        """Replace the progress line."""

    async def finish(
        self, content: str, embed: discord.Embed | None = None, image: ImageFile | None = None
    ) -> discord.Message | None:
        """Replace everything with the final state; returns the message now showing it."""


class InteractionReply:
    """The deferred response to an interaction; the channel once its token is nearly spent."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction
        self._token_dead = False

    @property
    def filesize_limit(self) -> int:
        return self._interaction.filesize_limit

    def _token_usable(self) -> bool:
        near_end = discord.utils.utcnow() >= self._interaction.expires_at - TOKEN_MARGIN
        return not (self._token_dead or near_end)

    async def show(self, content: str) -> None:
        if self._token_usable():
            await self._edit(content=content)

    async def finish(
        self, content: str, embed: discord.Embed | None = None, image: ImageFile | None = None
    ) -> discord.Message | None:
        if self._token_usable():
            edited = await self._edit(
                content=content,
                embeds=[embed] if embed else [],
                attachments=[image.to_file()] if image else [],
            )
            if edited is not None:
                return edited
        return await self._post_in_channel(content, embed, image)

    async def _edit(self, **fields: Any) -> discord.Message | None:
        try:
            return await self._interaction.edit_original_response(**fields)
        except discord.HTTPException as error:
            if error.code not in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK):
                raise
            # Every further try would be an invalid request, which Discord counts towards a ban.
            self._token_dead = True
            return None

    async def _post_in_channel(
        self, content: str, embed: discord.Embed | None, image: ImageFile | None
    ) -> discord.Message:
        channel = self._interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError("interaction has no channel to post in")
        user = self._interaction.user
        log.info("interaction %s token expired; posting to the channel", self._interaction.id)
        return await channel.send(
            content=f"{user.mention} {content}".strip(),
            embed=embed or discord.utils.MISSING,
            file=image.to_file() if image else discord.utils.MISSING,
            # Notify the requester and nobody else: AllowedMentions defaults allow everything.
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, replied_user=False, users=[user]
            ),
        )


class MessageReply:
    """A message the bot posts in reply to another, then edits."""

    def __init__(self, message: discord.Message, filesize_limit: int) -> None:
        self._message = message
        self._filesize_limit = filesize_limit

    @classmethod
    async def post(cls, anchor: discord.Message) -> MessageReply:
        message = await anchor.reply(queued_line(), mention_author=False)
        limit = (
            anchor.guild.filesize_limit
            if anchor.guild
            else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        )
        return cls(message, limit)

    @property
    def filesize_limit(self) -> int:
        return self._filesize_limit

    async def show(self, content: str) -> None:
        await self._message.edit(content=content)

    async def finish(
        self, content: str, embed: discord.Embed | None = None, image: ImageFile | None = None
    ) -> discord.Message | None:
        return await self._message.edit(
            content=content, embed=embed, attachments=[image.to_file()] if image else []
        )


class LiveProgress:
    """Keeps a reply's progress line current: at most one edit per interval, none after stop."""

    def __init__(
        self,
        reply: Reply,
        *,
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reply = reply
        self._interval = interval
        self._clock = clock
        self._phase = "Queued"
        self._estimate: Estimate | None = None
        self._since = clock()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.edits = 0

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
        shown = None
        while not self._stopped.is_set():
            line = self._line()
            if line != shown:
                try:
                    await self._reply.show(line)
                    shown = line
                    self.edits += 1
                except discord.HTTPException as error:
                    log.warning("progress edit failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)

    async def stop(self) -> None:
        """Stop editing; returns once no progress edit is in flight, so the final one is last."""
        self._stopped.set()
        if self._task is not None:
            await self._task


async def run_and_deliver(
    runner: JobRunner,
    job: Job,
    reply: Reply,
    requester: discord.abc.User,
    mod_log: discord.abc.Messageable | None = None,
) -> None:
    """Execute the job with live progress, then put the image or one clear sentence in the
    reply, and record it in the server's moderation log if it has one."""
    progress = LiveProgress(reply)
    try:
        result = await runner.execute(job, progress.on_event)
    except VibeDreamError as error:
        log.warning("job %s failed for user %s: %s", job.id, requester.id, error.detail)
        await progress.stop()
        shown = await reply.finish(failure_line(error.user_message))
        await _record(mod_log, job, requester, shown, outcome=error.user_message)
        return
    except BaseException:
        await progress.stop()
        raise
    await progress.stop()
    fitted = await asyncio.to_thread(fit_for_upload, result.image, reply.filesize_limit)
    if fitted is None:
        log.warning("job %s: image too large for a %d-byte limit", job.id, reply.filesize_limit)
        shown = await reply.finish(failure_line(TOO_LARGE))
        await _record(mod_log, job, requester, shown, outcome=TOO_LARGE)
        return
    result = dataclasses.replace(result, image=fitted)
    image = ImageFile(fitted.data, f"imagine-{job.id}.{fitted.extension}")
    embed = result_embed(result, image.filename, requester, reference_url=job.request.image)
    shown = await reply.finish("", embed, image)
    await _record(mod_log, job, requester, shown, outcome=None)


async def _record(
    mod_log: discord.abc.Messageable | None,
    job: Job,
    requester: discord.abc.User,
    shown: discord.Message | None,
    *,
    outcome: str | None,
) -> None:
    """One entry in the moderation log: who, what prompt, and a link to what was posted."""
    if mod_log is None:
        return
    entry = mod_log_embed(job, requester, shown.jump_url if shown else None, outcome)
    try:
        await mod_log.send(embed=entry)
    except discord.HTTPException as error:
        log.warning("could not write job %s to the moderation log: %s", job.id, error)

"""One flow for every entry point: admit, answer at once, run with live progress, deliver the
outcome, and note it in the ledger and the moderation log."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

import discord

from bot.core.imaging import fit_for_upload
from bot.core.models import Job, ReplyPlace
from bot.core.requests import GenerationRequest
from bot.core.runner import JobResult, LedgerUnavailable, ShuttingDown
from bot.discord_bot import ImagineBot
from bot.vibedream import VibeDreamError
from cogs._delivery.permissions import requester_for, role_ids, spoiler_policy_for
from cogs._delivery.progress import LiveProgress
from cogs._delivery.replies import ImageFile, InteractionReply, Reply
from cogs._i18n import _, using_locale
from cogs._render import (
    TOO_LARGE,
    WILL_DELIVER_AFTER_RESTART,
    failure_line,
    mod_log_embed,
    result_embed,
)
from cogs._result_buttons import result_view

log = logging.getLogger(__name__)


async def launch(
    bot: ImagineBot,
    interaction: discord.Interaction,
    request: GenerationRequest,
    *,
    note: str | None = None,
) -> None:
    """Admit the job (a refusal stays private), answer publicly at once, then run it. A `note`
    is shown above the result."""
    requester = requester_for(bot, interaction)
    await spoiler_policy_for(bot, interaction.guild_id, interaction.channel)  # may refuse
    reply = ReplyPlace.interaction(interaction.token, interaction.expires_at.timestamp())
    job = await bot.services.admission.admit(
        requester, request, role_ids=role_ids(interaction.user), reply=reply
    )
    with bot.tracking(asyncio.current_task()):
        async with releasing_if_unanswered(bot, job):
            await interaction.response.defer(thinking=True)
        await run_and_deliver(bot, job, InteractionReply(interaction), interaction.user, note)


@contextlib.asynccontextmanager
async def releasing_if_unanswered(bot: ImagineBot, job: Job) -> AsyncIterator[None]:
    """Around the first answer to an admitted job: if it fails (the interaction expired,
    Discord erred, the message replied to is gone), nobody can see the job, so release its
    reservation at once rather than leave the member's limits held by it."""
    try:
        yield
    except BaseException:
        await bot.services.runner.release(job, "NoReply")
        await bot.services.delivery.delivered(job)
        raise


async def run_and_deliver(
    bot: ImagineBot,
    job: Job,
    reply: Reply,
    requester: discord.abc.User,
    note: str | None = None,
) -> None:
    """Execute an admitted job with live progress, then deliver its outcome."""

    progress = LiveProgress(reply)
    try:
        result = await bot.services.runner.execute(job, progress.on_event)
    except (VibeDreamError, LedgerUnavailable) as error:
        await progress.stop()  # the failure line must be the last edit
        log.warning("job %s failed for user %s: %s", job.id, requester.id, error.detail)
        await deliver_failure(bot, job, reply, error.user_message)
        return
    except (asyncio.CancelledError, ShuttingDown) as stopping:
        # The ledger keeps the job for the next start to deliver or release.
        await progress.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(reply.show(_(WILL_DELIVER_AFTER_RESTART))), 2)
        if isinstance(stopping, asyncio.CancelledError):
            raise
        return
    finally:
        await progress.stop()  # returns at once when already stopped
    await deliver_result(bot, job, result, reply, requester, note)


async def deliver_result(
    bot: ImagineBot,
    job: Job,
    result: JobResult,
    reply: Reply,
    requester: discord.abc.User | None,
    note: str | None = None,
) -> None:
    """Post the image with its details and buttons, fitted to the upload limit, under `note`
    if there is one."""
    limit = reply.filesize_limit
    fits = len(result.image.data) <= limit
    fitted = result.image if fits else await asyncio.to_thread(fit_for_upload, result.image, limit)
    if fitted is None:
        log.warning("job %s: image too large for a %d-byte limit", job.id, reply.filesize_limit)
        await deliver_failure(bot, job, reply, TOO_LARGE)
        return
    result = dataclasses.replace(result, image=fitted)
    channel = bot.get_channel(job.requester.channel_id)
    spoiler = await spoiler_policy_for(bot, job.requester.guild_id, channel)
    # Discord hides a file whose name starts SPOILER_; an embed would show it, so none holds it.
    prefix = "SPOILER_" if spoiler else ""
    image = ImageFile(fitted.data, f"{prefix}imagine-{job.id}.{fitted.extension}")
    embed = result_embed(
        result,
        None if spoiler else image.filename,
        requester,
        reference_url=job.request.image,
    )
    shown = await reply.finish(note or "", embed, image, result_view(job.id, job.request.size))
    await _delivered(bot, job, shown, failure=None)


async def deliver_failure(bot: ImagineBot, job: Job, reply: Reply, message: str) -> None:
    """`message` is an English text from the catalogues, shown in the member's language."""
    shown = await reply.finish(failure_line(_(message)))
    await _delivered(bot, job, shown, failure=message)


async def _delivered(
    bot: ImagineBot, job: Job, shown: discord.Message | None, *, failure: str | None
) -> None:
    """The requester has seen the outcome: note it, and record it in the moderation log."""
    delivery = bot.services.delivery
    await delivery.delivered(job)
    guild_id = job.requester.guild_id
    log_channel_id = await delivery.mod_log_channel_id(guild_id)
    if log_channel_id is None:
        return
    mod_log = bot.get_partial_messageable(log_channel_id, guild_id=guild_id)
    guild = bot.get_guild(guild_id) if guild_id else None
    with using_locale(guild.preferred_locale if guild else None):  # for the server's moderators
        entry = mod_log_embed(job, shown.jump_url if shown else None, failure)
    try:
        await mod_log.send(embed=entry)
    except discord.HTTPException as error:
        log.warning("could not write job %s to the moderation log: %s", job.id, error)

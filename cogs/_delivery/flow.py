"""One flow for every entry point: admit, answer at once, run with live progress, deliver the
outcome, and note it in the ledger and the moderation log."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence

import discord

from bot.core.imaging import fit_for_upload
from bot.core.models import Job, MessageRef, ReplyPlace
from bot.core.requests import GenerationRequest
from bot.core.runner import CancelledInLine, JobResult, LedgerUnavailable, ShuttingDown
from bot.discord_bot import ImagineBot
from bot.vibedream import VibeDreamError
from cogs._delivery.confirm import CostPreview
from cogs._delivery.permissions import requester_for, role_ids, spoiler_policy_for
from cogs._delivery.progress import LiveProgress
from cogs._delivery.replies import ImageFile, InteractionReply, Reply
from cogs._delivery.result_files import result_filename
from cogs._i18n import _, using_locale
from cogs._render import (
    TOO_LARGE,
    WILL_DELIVER_AFTER_RESTART,
    cost_preview,
    failure_line,
    mod_log_embed,
    result_embed,
    set_embed,
)
from cogs._result_buttons import result_view, set_view

log = logging.getLogger(__name__)


async def launch(
    bot: ImagineBot,
    interaction: discord.Interaction,
    request: GenerationRequest,
    *,
    count: int = 1,
    note: str | None = None,
) -> None:
    """Admit the job, or the set of `count` (a refusal stays private), answer publicly at once,
    then run it. A `note` is shown above the result. A set, or a job above the server's
    threshold, is first shown privately with its cost, and admitted only once confirmed."""
    requester = requester_for(bot, interaction)
    await spoiler_policy_for(bot, interaction.guild_id, interaction.channel)  # may refuse
    quote = await bot.services.quotes.quote(interaction.guild_id, count)
    if quote is None:
        await _admit_and_run(bot, interaction, request, count, note)
        return
    # What would be refused is refused now, not after the member confirmed.
    admission = bot.services.admission
    await admission.check_set(requester, request, count, role_ids=role_ids(interaction.user))

    async def confirmed(confirming: discord.Interaction) -> None:
        await _admit_and_run(bot, confirming, request, count, note)

    preview = CostPreview(interaction, confirmed)
    await interaction.response.send_message(cost_preview(quote), view=preview, ephemeral=True)


async def _admit_and_run(
    bot: ImagineBot,
    interaction: discord.Interaction,
    request: GenerationRequest,
    count: int,
    note: str | None,
) -> None:
    reply = ReplyPlace.interaction(interaction.token, interaction.expires_at.timestamp())
    jobs = await bot.services.admission.admit_set(
        requester_for(bot, interaction),
        request,
        count,
        role_ids=role_ids(interaction.user),
        reply=reply,
    )
    with bot.tracking(asyncio.current_task()):
        async with releasing_if_unanswered(bot, jobs):
            await interaction.response.defer(thinking=True)
        await run_and_deliver(bot, jobs, InteractionReply(interaction), interaction.user, note)


@contextlib.asynccontextmanager
async def releasing_if_unanswered(bot: ImagineBot, jobs: Sequence[Job]) -> AsyncIterator[None]:
    """Around the first answer to admitted jobs: if it fails (the interaction expired,
    Discord erred, the message replied to is gone), nobody can see them, so release their
    reservations at once rather than leave the member's limits held by them."""
    try:
        yield
    except BaseException:
        for job in jobs:
            await bot.services.runner.release(job, "NoReply")
            await bot.services.delivery.delivered(job)
        raise


# What became of each job of a set: its image, or why there is none.
Outcome = JobResult | str


async def run_and_deliver(
    bot: ImagineBot,
    jobs: Sequence[Job],
    reply: Reply,
    requester: discord.abc.User,
    note: str | None = None,
) -> None:
    """Execute admitted jobs (one, or a set) together with live progress in one reply, then
    deliver their outcomes in one message."""
    progress = LiveProgress(reply, jobs=len(jobs), controls=jobs[0].id)
    try:
        outcomes = await asyncio.gather(*(_run(bot, job, progress, requester) for job in jobs))
    except (asyncio.CancelledError, ShuttingDown) as stopping:
        # The ledger keeps the jobs for the next start to deliver or release.
        await progress.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(reply.show(_(WILL_DELIVER_AFTER_RESTART))), 2)
        if isinstance(stopping, asyncio.CancelledError):
            raise
        return
    finally:
        await progress.stop()  # the outcome must be the last edit
    await deliver_outcomes(bot, jobs, outcomes, reply, requester, note)


async def _run(
    bot: ImagineBot, job: Job, progress: LiveProgress, requester: discord.abc.User
) -> Outcome:
    try:
        return await bot.services.runner.execute(job, progress.on_event)
    except (VibeDreamError, LedgerUnavailable, CancelledInLine) as error:
        log.warning("job %s failed for user %s: %s", job.id, requester.id, error.detail)
        return error.user_message


async def deliver_outcomes(
    bot: ImagineBot,
    jobs: Sequence[Job],
    outcomes: Sequence[Outcome],
    reply: Reply,
    requester: discord.abc.User | None,
    note: str | None = None,
) -> None:
    """Post the images with their details and buttons in one message, each fitted to the
    upload limit, under `note` if there is one; or, if none was made, why."""
    limit = reply.filesize_limit // len(jobs)  # the images share one upload
    made: list[tuple[int, Job, JobResult]] = []  # by image number, from 1
    failures: dict[int, str] = {}
    for number, (job, outcome) in enumerate(zip(jobs, outcomes, strict=True), start=1):
        fitted = await _fitted(job, outcome, limit)
        if isinstance(fitted, str):
            failures[number] = fitted
        else:
            made.append((number, job, fitted))
    if not made:
        await _fail_all(bot, jobs, reply, next(iter(failures.values())))
        return
    first = jobs[0]
    channel = bot.get_channel(first.requester.channel_id)
    spoiler = await spoiler_policy_for(bot, first.requester.guild_id, channel)
    # A spoilered file stays out of the embed, which would show it.
    images = [
        ImageFile(
            result.image.data, result_filename(job.id, result.image.extension, spoiler=spoiler)
        )
        for _, job, result in made
    ]
    if len(jobs) == 1:
        shown_image = None if spoiler else images[0].filename
        embed = result_embed(made[0][2], shown_image, requester, reference_url=first.request.image)
        view = result_view(first.id, first.request.size)
    else:
        numbered = [(number, result) for number, _, result in made]
        embed = set_embed(numbered, failures, requester, reference_url=first.request.image)
        view = set_view(first.id, [(number, job.id) for number, job, _ in made], first.request.size)
    shown = await reply.finish(note or "", embed, images, view)
    for number, job in enumerate(jobs, start=1):
        await _delivered(bot, job, shown, failure=failures.get(number))


async def _fitted(job: Job, outcome: Outcome, limit: int) -> JobResult | str:
    """The result with its image under `limit` bytes, or why it cannot be delivered."""
    if isinstance(outcome, str):
        return outcome
    if len(outcome.image.data) <= limit:
        return outcome
    fitted = await asyncio.to_thread(fit_for_upload, outcome.image, limit)
    if fitted is None:
        log.warning("job %s: image too large for a %d-byte limit", job.id, limit)
        return TOO_LARGE
    return dataclasses.replace(outcome, image=fitted)


async def _fail_all(bot: ImagineBot, jobs: Sequence[Job], reply: Reply, message: str) -> None:
    """`message` is an English text from the catalogues, shown in the member's language."""
    shown = await reply.finish(failure_line(_(message)))
    for job in jobs:
        await _delivered(bot, job, shown, failure=message)


async def _delivered(
    bot: ImagineBot, job: Job, shown: discord.Message | None, *, failure: str | None
) -> None:
    """The requester has seen the outcome: note it, and record it in the moderation log."""
    delivery = bot.services.delivery
    # An image's message is kept for the gallery and /show.
    result = MessageRef(shown.channel.id, shown.id) if shown and failure is None else None
    await delivery.delivered(job, result)
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

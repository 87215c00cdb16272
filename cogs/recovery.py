"""Finishing what a stopped process left: the bot starts `keep_recovering` once logged in. It
claims every undelivered job in its scope whose process stopped renewing its lease, and
delivers it or tells its requester what became of it."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import discord
from discord.ext import commands

from bot.core.delivery import CLAIMS_PER_PASS
from bot.core.leases import LEASE_SECONDS
from bot.core.models import Job, JobState, ShardScope
from bot.core.ports import StorageUnavailable
from bot.discord_bot import RECOVERY_COG, ImagineBot
from bot.vibedream import VibeDreamError
from cogs._delivery.flow import deliver_failure, deliver_result
from cogs._delivery.replies import ResumedReply
from cogs._i18n import use_locale
from cogs._render import MAY_HAVE_BEEN_CHARGED, NOT_MADE, NOT_STARTED

log = logging.getLogger(__name__)

LOOK_BACK_SECONDS = 24 * 3600  # older undelivered jobs are settled, not announced
SWEEP_SECONDS = LEASE_SECONDS / 3


class Recovery(commands.Cog, name=RECOVERY_COG):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def keep_recovering(self, scope: ShardScope, *, alone: bool) -> None:
        """Sweep at once, then every few seconds. When no other process can be alive (one
        SQLite file), the first sweep takes every undelivered job without waiting for leases
        to run out."""
        expired_before = math.inf if alone else time.time()
        while True:
            try:
                await self.sweep(scope, expired_before=expired_before)
            except StorageUnavailable as error:
                log.warning("could not look for jobs to recover: %s", error)
            await asyncio.sleep(SWEEP_SECONDS)
            expired_before = time.time()

    async def sweep(self, scope: ShardScope, *, expired_before: float) -> None:
        while True:
            jobs = await self.bot.services.delivery.claim_orphans(
                scope, expired_before=expired_before
            )
            if jobs:
                log.info("Recovering %d jobs left by a stopped process", len(jobs))
            outcomes = await asyncio.gather(
                *(self._recover(job) for job in jobs), return_exceptions=True
            )
            for job, outcome in zip(jobs, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    log.error("could not recover job %s", job.id, exc_info=outcome)
            if len(jobs) < CLAIMS_PER_PASS:
                return

    async def _recover(self, job: Job) -> None:
        if job.created_at < time.time() - LOOK_BACK_SECONDS:
            await self._settle_quietly(job)
            return
        # The member is not here to say which language: the server's (each job is a task).
        use_locale(await self._guild_locale(job.requester.guild_id))
        reply = ResumedReply(self.bot, job)
        runner = self.bot.services.runner
        if job.state is JobState.RESERVED:
            await runner.release(job, "restarted")
            await deliver_failure(self.bot, job, reply, NOT_STARTED)
        elif job.state is JobState.SUBMITTING:
            await runner.give_up_on_unknown_outcome(job)
            await deliver_failure(self.bot, job, reply, MAY_HAVE_BEEN_CHARGED)
        elif job.state in (JobState.SUBMITTED, JobState.COMPLETED):
            with self.bot.tracking(asyncio.current_task()):
                try:
                    result = await runner.resume(job)
                except VibeDreamError as error:
                    await deliver_failure(self.bot, job, reply, error.user_message)
                    return
                requester = self.bot.get_user(job.requester.user_id)
                await deliver_result(self.bot, job, result, reply, requester)
        else:
            await deliver_failure(self.bot, job, reply, NOT_MADE)

    async def _guild_locale(self, guild_id: int | None) -> discord.Locale | None:
        """The server's preferred locale. The first sweep runs before the gateway has sent
        any server, so one not cached yet is asked for; None (English) where that fails."""
        if guild_id is None:
            return None
        guild = self.bot.get_guild(guild_id)
        if guild is not None:
            return guild.preferred_locale
        try:
            return (await self.bot.fetch_guild(guild_id)).preferred_locale
        except discord.HTTPException as error:
            log.warning("could not look up the language of server %s: %s", guild_id, error)
            return None

    async def _settle_quietly(self, job: Job) -> None:
        """Too old to announce: end it on the books as it stands, and tell nobody."""
        runner = self.bot.services.runner
        if job.state is JobState.RESERVED:
            await runner.release(job, "abandoned")
        elif job.state is JobState.SUBMITTING:
            await runner.give_up_on_unknown_outcome(job)
        elif job.state is JobState.SUBMITTED:
            await runner.abandon(job)
        await self.bot.services.delivery.delivered(job)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Recovery(bot))

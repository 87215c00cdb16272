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
from cogs._delivery.flow import Outcome, deliver_outcomes
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
            sets = _as_sets(jobs)
            outcomes = await asyncio.gather(
                *(self._recover(members) for members in sets), return_exceptions=True
            )
            for members, outcome in zip(sets, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    ids = ", ".join(str(job.id) for job in members)
                    log.error("could not recover job %s", ids, exc_info=outcome)
            if len(jobs) < CLAIMS_PER_PASS:
                return

    async def _recover(self, jobs: list[Job]) -> None:
        """Settle a job, or a set, and deliver what became of it in its one reply."""
        if jobs[0].created_at < time.time() - LOOK_BACK_SECONDS:
            for job in jobs:
                await self._settle_quietly(job)
            return
        # The member is not here to say which language: the server's (each set is a task).
        use_locale(await self._guild_locale(jobs[0].requester.guild_id))
        with self.bot.tracking(asyncio.current_task()):
            outcomes = await asyncio.gather(*(self._outcome(job) for job in jobs))
            requester = self.bot.get_user(jobs[0].requester.user_id)
            reply = ResumedReply(self.bot, jobs[0])
            await deliver_outcomes(self.bot, jobs, outcomes, reply, requester)

    async def _outcome(self, job: Job) -> Outcome:
        """End a job left open, or finish it: its image, or what to tell its requester."""
        runner = self.bot.services.runner
        if job.state is JobState.RESERVED:
            await runner.release(job, "restarted")
            return NOT_STARTED
        if job.state is JobState.SUBMITTING:
            await runner.give_up_on_unknown_outcome(job)
            return MAY_HAVE_BEEN_CHARGED
        if job.state in (JobState.SUBMITTED, JobState.COMPLETED):
            try:
                return await runner.resume(job)
            except VibeDreamError as error:
                return error.user_message
        return NOT_MADE

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


def _as_sets(jobs: list[Job]) -> list[list[Job]]:
    """Claimed jobs grouped as they were asked for: a set is delivered in one message."""
    sets: dict[int, list[Job]] = {}
    for job in jobs:
        sets.setdefault(job.batch_id or -job.id, []).append(job)
    return [sorted(members, key=lambda job: job.id) for members in sets.values()]


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Recovery(bot))

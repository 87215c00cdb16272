"""Finishing what an earlier run left: the bot starts `recover` once it is logged in, and every
undelivered job in its scope is delivered or reported to its requester."""

from __future__ import annotations

import asyncio
import logging
import time

from discord.ext import commands

from bot.core.delivery import GuildScope
from bot.core.models import Job, JobState
from bot.discord_bot import RECOVERY_COG, ImagineBot
from bot.vibedream import VibeDreamError
from cogs._delivery.flow import deliver_failure, deliver_result
from cogs._delivery.replies import ResumedReply

log = logging.getLogger(__name__)

LOOK_BACK_SECONDS = 24 * 3600  # older undelivered jobs are settled, not announced
NOT_STARTED = (
    "The bot restarted before your image was started; nothing was charged. Please try again."
)
NOT_MADE = "Your image could not be made."


class Recovery(commands.Cog, name=RECOVERY_COG):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def recover(self, scope: GuildScope) -> None:
        since = time.time() - LOOK_BACK_SECONDS
        jobs = await self.bot.services.delivery.undelivered(scope, since=since)
        if not jobs:
            return
        log.info("Recovering %d jobs left by the last run", len(jobs))
        outcomes = await asyncio.gather(
            *(self._recover(job) for job in jobs), return_exceptions=True
        )
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error("could not recover job %s", job.id, exc_info=outcome)

    async def _recover(self, job: Job) -> None:
        reply = ResumedReply(self.bot, job)
        runner = self.bot.services.runner
        if job.state is JobState.RESERVED:
            await runner.release(job, "restarted")
            await deliver_failure(self.bot, job, reply, NOT_STARTED)
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


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Recovery(bot))

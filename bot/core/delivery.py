"""Delivery bookkeeping: where each job's reply lives, whether its requester has seen the
outcome, and which jobs a process must still deliver. The cogs do the Discord half."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from bot.core.models import Job, ReplyPlace
from bot.core.policy import GuildPolicy
from bot.core.ports import JobLedger


class GuildScope(Protocol):
    """The servers a process answers for: recovery picks up only their jobs."""

    def covers(self, guild_id: int | None) -> bool: ...


class EveryGuild:
    """One process serving every shard: every job is its own, direct messages included."""

    def covers(self, guild_id: int | None) -> bool:
        return True


EVERY_GUILD = EveryGuild()


class DeliveryBook:
    def __init__(self, ledger: JobLedger, policy: GuildPolicy) -> None:
        self._ledger = ledger
        self._policy = policy

    async def reply_shown(self, job: Job, message_id: int) -> None:
        """The job's reply (of the kind it was admitted with) now has a message."""
        await self._ledger.set_reply(job.id, dataclasses.replace(job.reply, message_id=message_id))

    async def reply_posted(self, job: Job, reply: ReplyPlace) -> None:
        """The job's reply is a place other than the one it was admitted with."""
        await self._ledger.set_reply(job.id, reply)

    async def delivered(self, job: Job) -> None:
        """The requester has seen the outcome."""
        await self._ledger.mark_delivered(job.id)

    async def undelivered(self, scope: GuildScope, *, since: float) -> list[Job]:
        """Jobs in `scope` created since `since` whose outcome nobody has been shown."""
        jobs = await self._ledger.undelivered_jobs(since=since)
        return [job for job in jobs if scope.covers(job.requester.guild_id)]

    async def mod_log_channel_id(self, guild_id: int | None) -> int | None:
        if guild_id is None:
            return None
        return (await self._policy.settings(guild_id)).log_channel_id

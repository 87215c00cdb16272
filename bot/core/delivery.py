"""Delivery bookkeeping: where each job's reply lives, whether its requester has seen the
outcome, and which jobs a process must still deliver. The cogs do the Discord half."""

from __future__ import annotations

from bot.core.leases import LeaseKeeper
from bot.core.models import Job, MessageRef, ReplyPlace, ShardScope
from bot.core.policy import GuildPolicy
from bot.core.ports import JobLedger

CLAIMS_PER_PASS = 100


class DeliveryBook:
    def __init__(self, ledger: JobLedger, policy: GuildPolicy, leases: LeaseKeeper) -> None:
        self._ledger = ledger
        self._policy = policy
        self._leases = leases

    async def reply_posted(self, job: Job, reply: ReplyPlace) -> None:
        """The job's reply is a message posted after it was admitted."""
        await self._ledger.set_reply(job.id, reply)

    async def delivered(self, job: Job, result: MessageRef | None = None) -> None:
        """The requester has seen the outcome (`result`: the message showing the image): the
        job is no longer this process's to keep."""
        await self._ledger.mark_delivered(job.id, self._leases.owner, result=result)
        self._leases.let_go(job.id)

    async def claim_orphans(self, scope: ShardScope, *, expired_before: float) -> list[Job]:
        """Take over undelivered jobs in `scope` whose process stopped renewing their lease
        before `expired_before` (pass infinity when no other process can be alive)."""
        lease = self._leases.new_lease()
        jobs = await self._ledger.claim_jobs(
            lease.owner,
            scope,
            expired_before=expired_before,
            expires_at=lease.expires_at,
            limit=CLAIMS_PER_PASS,
        )
        for job in jobs:
            self._leases.hold(job.id)
        return jobs

    async def mod_log_channel_id(self, guild_id: int | None) -> int | None:
        if guild_id is None:
            return None
        return (await self._policy.settings(guild_id)).log_channel_id

"""This process's leases on the jobs it runs: taken at admission, renewed while the jobs live,
ended at delivery. A process that dies stops renewing, and a live one claims its jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

from bot.core.models import Lease
from bot.core.ports import JobLedger, StorageUnavailable

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # how long a dead process's jobs wait before another takes them over


class LeaseKeeper:
    def __init__(
        self,
        ledger: JobLedger,
        *,
        owner: str | None = None,
        seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ledger = ledger
        self.owner = owner or f"process-{uuid.uuid4().hex[:12]}"
        self.seconds = seconds
        self._clock = clock
        self._held: set[int] = set()
        self._renewing: asyncio.Task[None] | None = None

    def new_lease(self) -> Lease:
        return Lease(self.owner, self._clock() + self.seconds)

    def hold(self, job_id: int) -> None:
        """Keep renewing this job's lease until `let_go`."""
        self._held.add(job_id)

    def let_go(self, job_id: int) -> None:
        self._held.discard(job_id)

    def holds(self, job_id: int) -> bool:
        return job_id in self._held

    def start(self) -> None:
        if self._renewing is None:
            self._renewing = asyncio.create_task(self._renew_forever())

    async def stop(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None

    async def renew(self) -> None:
        """Extend every held lease; forget those another process has taken over."""
        held = set(self._held)
        try:
            kept = await self._ledger.renew_leases(self.owner, held, self._clock() + self.seconds)
        except StorageUnavailable as error:
            log.warning("could not renew %d leases: %s", len(held), error)
            return
        for job_id in held - kept:
            log.warning("lost the lease on job %s to another process", job_id)
            self._held.discard(job_id)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            await self.renew()

"""The core's services, built once from settings and handed to the front end."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.admission import Admission
from bot.core.composer import Composer
from bot.core.delivery import DeliveryBook
from bot.core.history import History
from bot.core.leases import LeaseKeeper
from bot.core.policy import GuildPolicy
from bot.core.ports import JobLedger, UsageReader
from bot.core.preferences import PreferenceBook
from bot.core.quotes import Quoter
from bot.core.runner import JobRunner
from bot.core.styles import StyleBook


@dataclass(frozen=True)
class Services:
    policy: GuildPolicy
    leases: LeaseKeeper
    admission: Admission
    quotes: Quoter
    runner: JobRunner
    delivery: DeliveryBook
    ledger: JobLedger
    usage: UsageReader
    history: History
    styles: StyleBook
    preferences: PreferenceBook
    composer: Composer

    def stop_taking_jobs(self) -> None:
        """Shutting down: refuse new jobs and start no queued one."""
        self.admission.stop_admitting()
        self.runner.stop_starting()

"""What the core reports for monitoring, without knowing who listens (bot.metrics, when
METRICS_ADDRESS is set; nobody otherwise)."""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def job_ended(self, outcome: str, guild_id: int | None, cents: int) -> None:
        """A job's row was settled `outcome` (completed, failed or released), having cost
        `cents` as the ledger counts them."""
        ...

    def provider_call(self, kind: str, seconds: float, error: str | None) -> None:
        """One call to the API (`submit`, `poll` or `download`) took `seconds` and ended in
        `error` (the error's class name), or in an answer."""
        ...


class NoTelemetry:
    """Reports to nobody."""

    def job_ended(self, outcome: str, guild_id: int | None, cents: int) -> None:
        pass

    def provider_call(self, kind: str, seconds: float, error: str | None) -> None:
        pass


NO_TELEMETRY = NoTelemetry()

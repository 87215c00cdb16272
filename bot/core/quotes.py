"""The cost of a request before it is spent: asked for a set, or above a server's threshold,
the member sees it with what the server's budgets have left, and confirms or not."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.limits import periods
from bot.core.policy import GuildPolicy
from bot.core.ports import UsageReader
from bot.core.pricing import Pricing


@dataclass(frozen=True)
class Quote:
    count: int
    cents_each: int  # the last price the API quoted: an estimate until it bills
    left_today: int | None  # of the server's daily budget; None: it has none
    left_this_month: int | None

    @property
    def total_cents(self) -> int:
        return self.count * self.cents_each


class Quoter:
    def __init__(
        self,
        policy: GuildPolicy,
        pricing: Pricing,
        usage: UsageReader,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._pricing = pricing
        self._usage = usage
        self._wall_clock = wall_clock

    async def quote(self, guild_id: int | None, count: int) -> Quote | None:
        """What `count` images will cost, if the member must confirm it first: always for a
        set, and for one image above the server's threshold; else None."""
        each = self._pricing.expected_cents
        threshold = await self._policy.confirm_above_cents(guild_id)
        if count == 1 and (threshold is None or each <= threshold):
            return None
        if guild_id is None:
            return Quote(count, each, None, None)
        limits = await self._policy.limits_for(guild_id)
        window = periods(datetime.fromtimestamp(self._wall_clock(), UTC), limits.timezone)
        today = await self._usage.tally(guild_id, since=window.day_start.timestamp())
        month = await self._usage.tally(guild_id, since=window.month_start.timestamp())
        return Quote(
            count,
            each,
            _left(limits.guild_daily_budget_cents, today.cents),
            _left(limits.guild_monthly_budget_cents, month.cents),
        )


def _left(budget: int | None, spent: int) -> int | None:
    return None if budget is None else max(0, budget - spent)

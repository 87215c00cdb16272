"""Usage reports for /usage: what a member or a server has made and spent, and what is left."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.core.charts import ENGLISH_WORDS, ChartWords, DayUsage, render_usage_chart
from bot.core.limits import Limits, Periods, periods
from bot.core.models import MemberTotal, Tally
from bot.core.ports import UsageReader
from bot.core.texts import N_

CHART_DAYS = 30


@dataclass(frozen=True)
class Allowance:
    """One limit as it stands for someone: how much is used, the cap, and when it resets."""

    name: str
    used: int
    cap: int
    resets_at: datetime | None
    in_cents: bool = False

    @property
    def left(self) -> int:
        return max(0, self.cap - self.used)


@dataclass(frozen=True)
class MemberReport:
    today: Tally
    month: Tally
    all_time: Tally
    allowances: list[Allowance]
    ready_at: datetime | None  # when a cooldown ends, if one is running
    exempt: bool


@dataclass(frozen=True)
class ServerReport:
    today: Tally
    month: Tally
    all_time: Tally
    top_members: list[MemberTotal]
    allowances: list[Allowance]
    chart_png: bytes


async def member_report(
    db: UsageReader, limits: Limits, guild_id: int, user_id: int, *, now: datetime, exempt: bool
) -> MemberReport:
    window = periods(now, limits.timezone)
    today = await db.tally(guild_id, user_id=user_id, since=window.day_start.timestamp())
    month = await db.tally(guild_id, user_id=user_id, since=window.month_start.timestamp())
    all_time = await db.tally(guild_id, user_id=user_id)
    allowances = [] if exempt else _member_allowances(limits, today, window)
    ready_at = None
    if limits.user_cooldown_seconds and not exempt:
        last = await db.last_job_at(guild_id, user_id)
        if last is not None and last + limits.user_cooldown_seconds > now.timestamp():
            ready_at = datetime.fromtimestamp(last + limits.user_cooldown_seconds, UTC)
    server_today = await db.tally(guild_id, since=window.day_start.timestamp())
    server_month = await db.tally(guild_id, since=window.month_start.timestamp())
    allowances += _budget_allowances(limits, server_today, server_month, window)
    return MemberReport(today, month, all_time, allowances, ready_at, exempt)


async def server_report(
    db: UsageReader,
    limits: Limits,
    guild_id: int,
    *,
    now: datetime,
    words: ChartWords = ENGLISH_WORDS,
) -> ServerReport:
    window = periods(now, limits.timezone)
    today = await db.tally(guild_id, since=window.day_start.timestamp())
    month = await db.tally(guild_id, since=window.month_start.timestamp())
    all_time = await db.tally(guild_id)
    top = await db.top_members(guild_id, since=window.month_start.timestamp())
    days = await _daily_usage(db, limits, guild_id, window)
    chart = await asyncio.to_thread(
        render_usage_chart, days, title=words.title.format(days=CHART_DAYS), words=words
    )
    allowances = _budget_allowances(limits, today, month, window)
    return ServerReport(today, month, all_time, top, allowances, chart)


def _member_allowances(limits: Limits, today: Tally, window: Periods) -> list[Allowance]:
    if limits.user_daily_images is None:
        return []
    return [
        Allowance(N_("Images today"), today.generations, limits.user_daily_images, window.day_end)
    ]


def _budget_allowances(
    limits: Limits, today: Tally, month: Tally, window: Periods
) -> list[Allowance]:
    allowances = []
    if limits.guild_daily_budget_cents is not None:
        allowances.append(
            Allowance(
                N_("Server budget today"),
                today.cents,
                limits.guild_daily_budget_cents,
                window.day_end,
                in_cents=True,
            )
        )
    if limits.guild_monthly_budget_cents is not None:
        allowances.append(
            Allowance(
                N_("Server budget this month"),
                month.cents,
                limits.guild_monthly_budget_cents,
                window.month_end,
                in_cents=True,
            )
        )
    return allowances


async def _daily_usage(
    db: UsageReader, limits: Limits, guild_id: int, window: Periods
) -> list[DayUsage]:
    """Images and cost per day in the server's time zone, zeros included, oldest first."""
    first_day: date = window.day_start.date() - timedelta(days=CHART_DAYS - 1)
    start = datetime.combine(first_day, datetime.min.time(), limits.timezone)
    per_day = {first_day + timedelta(days=n): [0, 0] for n in range(CHART_DAYS)}
    for created_at, completed, cents in await db.job_times(guild_id, since=start.timestamp()):
        day = datetime.fromtimestamp(created_at, limits.timezone).date()
        if day in per_day:
            per_day[day][0] += completed
            per_day[day][1] += cents
    return [DayUsage(day, images, cents) for day, (images, cents) in per_day.items()]

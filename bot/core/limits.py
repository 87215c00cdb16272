"""The limits a server sets on spending, and the check every job passes before it is admitted.

Pure policy: the numbers come from the ledger (the storage adapters), which runs
`check_admission` inside the same transaction that records the jobs, so concurrent requests
cannot overshoot a limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.core.blocklist import BlockList
from bot.core.refusals import Refused
from bot.core.texts import N_

UTC = ZoneInfo("UTC")
NO_BLOCKED_TERMS = BlockList.compile(())


@dataclass(frozen=True)
class Limits:
    """The limits in force for one server; None means no limit."""

    user_daily_images: int | None = None
    user_cooldown_seconds: int | None = None
    user_max_concurrent: int | None = None
    guild_daily_budget_cents: int | None = None
    guild_monthly_budget_cents: int | None = None
    timezone: ZoneInfo = UTC
    exempt_role_id: int | None = None
    channel_ids: frozenset[int] = frozenset()  # where /imagine may be used; empty means anywhere
    blocked_terms: tuple[str, ...] = ()
    blocklist: BlockList = NO_BLOCKED_TERMS  # blocked_terms, compiled


NO_LIMITS = Limits()


@dataclass(frozen=True)
class Periods:
    """The server's current day and month in its own time zone, for counting and resets."""

    day_start: datetime
    day_end: datetime
    month_start: datetime
    month_end: datetime


@dataclass(frozen=True)
class Usage:
    """What the ledger says, at the moment of admission, about the requester and the server."""

    user_jobs_today: int
    user_last_job_at: float | None
    user_jobs_in_flight: int
    guild_cents_today: int
    guild_cents_this_month: int


class LimitReached(Refused):
    def __init__(self, template: str, resets_at: datetime | None = None, **params: object) -> None:
        super().__init__(template, **params)
        self.resets_at = resets_at
        self.fits: tuple[int, int] | None = None  # (how many would fit, of how many asked)

    def would_fit(self, room: int, count: int) -> None:
        """Refusing a set of `count`: say that `room` of them would fit."""
        self.fits = (room, count)
        self.message += " " + WOULD_FIT.format(room=room, count=count)


WOULD_FIT = N_("Only {room} of the {count} images you asked for would fit.")


class ChannelNotAllowed(Refused):
    def __init__(self, channel_ids: frozenset[int]) -> None:
        super().__init__(N_("Images can't be made in this channel."))
        self.channel_ids = channel_ids


class BlockedPrompt(Refused):
    pass


@cache
def timezone_names() -> tuple[str, ...]:
    """Every IANA time zone name, sorted (read from disk once)."""
    return tuple(sorted(available_timezones()))


def zone(name: str | None) -> ZoneInfo:
    """The server's time zone; UTC when unset or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def periods(now: datetime, timezone: ZoneInfo) -> Periods:
    local = now.astimezone(timezone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Add a day in local calendar terms, then re-anchor at midnight (days are not always 24 h).
    day_end = (day_start + timedelta(days=1, hours=3)).replace(hour=0)
    month_start = day_start.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1)
    return Periods(day_start, day_end, month_start, month_end)


def check_request(limits: Limits, channel_id: int, prompt: str) -> None:
    """The checks that need no ledger: the channel, and the words in the prompt."""
    if limits.channel_ids and channel_id not in limits.channel_ids:
        raise ChannelNotAllowed(limits.channel_ids)
    term = limits.blocklist.first_match(prompt)
    if term is not None:
        raise BlockedPrompt(
            N_("Your prompt contains “{term}”, which this server has blocked."), term=term
        )


def check_admission(
    limits: Limits,
    usage: Usage,
    periods: Periods,
    *,
    now: datetime,
    exempt: bool,
    expected_cents: int,
    count: int = 1,
) -> None:
    """Raise LimitReached, naming the limit and when it resets, if these `count` images would
    break one; a set that does not fit is refused whole, saying how many would."""
    for room, refusal in _rooms(
        limits, usage, periods, now=now, exempt=exempt, cents=expected_cents
    ):
        if room < count:
            if 0 < room < count:
                refusal.would_fit(room, count)
            raise refusal


def _rooms(
    limits: Limits, usage: Usage, periods: Periods, *, now: datetime, exempt: bool, cents: int
) -> Iterator[tuple[int, LimitReached]]:
    """Each limit in force: how many more images it allows now, and the refusal if too few."""
    if not exempt:
        cap = limits.user_daily_images
        if cap is not None:
            used = usage.user_jobs_today
            yield (
                cap - used,
                LimitReached(
                    N_("You've used your {count} images for today on this server."),
                    periods.day_end,
                    count=cap,
                )
                if used >= cap
                else LimitReached(
                    N_("You have {left} of your {count} images left today."),
                    periods.day_end,
                    left=cap - used,
                    count=cap,
                ),
            )
        cooldown = limits.user_cooldown_seconds
        if cooldown is not None and usage.user_last_job_at is not None:
            ready = usage.user_last_job_at + cooldown
            if now.timestamp() < ready:
                yield (
                    0,
                    LimitReached(
                        N_("This server has a {seconds}s cooldown between images."),
                        datetime.fromtimestamp(ready, UTC),
                        seconds=cooldown,
                    ),
                )
        cap = limits.user_max_concurrent
        if cap is not None:
            busy = usage.user_jobs_in_flight
            yield (
                cap - busy,
                LimitReached(
                    N_("You already have {count} images in progress; wait for one to finish."),
                    count=busy,
                )
                if busy
                else LimitReached(
                    N_("This server lets you make {count} images at a time."), count=cap
                ),
            )
    per_image = max(cents, 1)
    budgets = (
        (
            limits.guild_daily_budget_cents,
            usage.guild_cents_today,
            periods.day_end,
            N_("This server has spent its image budget for today."),
            N_("This server's image budget for today is nearly spent."),
        ),
        (
            limits.guild_monthly_budget_cents,
            usage.guild_cents_this_month,
            periods.month_end,
            N_("This server has spent its image budget for this month."),
            N_("This server's image budget for this month is nearly spent."),
        ),
    )
    for budget, spent, resets_at, spent_text, nearly_text in budgets:
        if budget is not None:
            room = (budget - spent) // per_image
            yield room, LimitReached(spent_text if room < 1 else nearly_text, resets_at)

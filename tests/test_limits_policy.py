"""The limit policy on its own: periods in a server's time zone, blocked terms, boundaries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.blocklist import BlockList
from bot.core.limits import (
    LimitReached,
    Limits,
    Usage,
    check_admission,
    periods,
    zone,
)

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)


def test_days_and_months_follow_the_server_time_zone_across_dst() -> None:
    """Paris changes its clocks on 29 March: the day still ends at local midnight."""
    window = periods(NOW, zone("Europe/Paris"))
    assert window.day_start.isoformat() == "2026-03-29T00:00:00+01:00"
    assert window.day_end.isoformat() == "2026-03-30T00:00:00+02:00"
    assert window.month_end.isoformat() == "2026-04-01T00:00:00+02:00"


def test_an_unknown_time_zone_means_utc() -> None:
    """A zone name the system does not know falls back to UTC instead of failing."""
    assert zone("Mars/Olympus").key == "UTC" and zone(None).key == "UTC"


@pytest.mark.parametrize(
    ("prompt", "found"),
    [
        ("a Cat on a mat", "cat"),
        ("category theory", None),
        ("hot   dog stand", "hot dog"),
        ("cat-like", "cat"),
        ("scatter", None),
    ],
)
def test_blocked_terms_match_whole_words_in_any_case(prompt: str, found: str | None) -> None:
    """Words and phrases match whole, ignoring case and spacing; parts of words do not."""
    assert BlockList.compile(("cat", "hot dog")).first_match(prompt) == found


def test_limits_refuse_exactly_at_the_boundary() -> None:
    """With 3 a day, the 3rd is allowed and the 4th refused, naming the reset."""
    limits = Limits(user_daily_images=3)
    window = periods(NOW, zone(None))
    check_admission(
        limits, Usage(2, None, 0, 0, 0), window, now=NOW, exempt=False, expected_cents=1
    )
    with pytest.raises(LimitReached) as caught:
        check_admission(
            limits, Usage(3, None, 0, 0, 0), window, now=NOW, exempt=False, expected_cents=1
        )
    assert caught.value.resets_at == window.day_end


def test_budgets_count_the_expected_cost_of_the_new_job() -> None:
    """A budget of 10 with 9 spent refuses a job expected to cost 2, allows one costing 1."""
    limits = Limits(guild_daily_budget_cents=10)
    window = periods(NOW, zone(None))
    spent = Usage(0, None, 0, 9, 9)
    check_admission(limits, spent, window, now=NOW, exempt=False, expected_cents=1)
    with pytest.raises(LimitReached):
        check_admission(limits, spent, window, now=NOW, exempt=False, expected_cents=2)


def test_exemption_skips_member_limits_but_not_budgets() -> None:
    """An exempt member ignores per-member limits; the server's money limits still hold."""
    limits = Limits(user_daily_images=1, user_max_concurrent=1, guild_daily_budget_cents=5)
    window = periods(NOW, zone(None))
    busy = Usage(10, NOW.timestamp(), 4, 4, 4)
    check_admission(limits, busy, window, now=NOW, exempt=True, expected_cents=1)
    with pytest.raises(LimitReached, match="budget"):
        check_admission(limits, busy, window, now=NOW, exempt=True, expected_cents=2)


def test_cooldown_reports_when_it_ends() -> None:
    """A cooldown refusal says the exact moment the member may ask again."""
    limits = Limits(user_cooldown_seconds=60)
    last = NOW.timestamp() - 15
    with pytest.raises(LimitReached) as caught:
        check_admission(
            limits,
            Usage(1, last, 0, 0, 0),
            periods(NOW, zone(None)),
            now=NOW,
            exempt=False,
            expected_cents=1,
        )
    assert caught.value.resets_at == datetime.fromtimestamp(last + 60, UTC)


@pytest.mark.parametrize(
    ("limits", "usage", "fits"),
    [
        (Limits(user_daily_images=3), Usage(1, None, 0, 0, 0), 2),
        (Limits(user_max_concurrent=2), Usage(0, None, 1, 0, 0), 1),
        (Limits(guild_daily_budget_cents=10), Usage(0, None, 0, 4, 4), 2),
        (Limits(guild_monthly_budget_cents=100), Usage(0, None, 0, 0, 97), 1),
    ],
)
def test_a_set_that_does_not_fit_is_refused_whole_saying_how_many_would(
    limits: Limits, usage: Usage, fits: int
) -> None:
    """Four images at 3¢ against each limit: refused whole, naming how many would fit; that
    many are admitted."""
    window = periods(NOW, zone(None))
    with pytest.raises(LimitReached) as caught:
        check_admission(limits, usage, window, now=NOW, exempt=False, expected_cents=3, count=4)
    assert f"Only {fits} of the 4 images you asked for would fit." in caught.value.message
    check_admission(limits, usage, window, now=NOW, exempt=False, expected_cents=3, count=fits)


def test_a_set_with_no_room_at_all_just_says_the_limit() -> None:
    window = periods(NOW, zone(None))
    with pytest.raises(LimitReached) as caught:
        check_admission(
            Limits(user_daily_images=3),
            Usage(3, None, 0, 0, 0),
            window,
            now=NOW,
            exempt=False,
            expected_cents=1,
            count=2,
        )
    assert caught.value.message == "You've used your 3 images for today on this server."

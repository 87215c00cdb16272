"""The poll schedule and the reading of `estimatedTime`."""

from __future__ import annotations

from itertools import accumulate, islice, pairwise

import pytest

from bot.core.polling import (
    DEFAULT_ESTIMATE,
    Estimate,
    EstimateShaped,
    FixedInterval,
    parse_estimated_time,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1-3s", Estimate(1, 3)),
        ("2s", Estimate(2, 2)),
        (" 1 - 3 seconds ", Estimate(1, 3)),
        ("~1.5s", Estimate(1.5, 1.5)),
        ("500ms", Estimate(0.5, 0.5)),
        ("3-1s", Estimate(1, 3)),
        ("4", Estimate(4, 4)),
        ("1\u20132s", Estimate(1, 2)),  # an en dash
    ],
)
def test_estimates_are_read_leniently(text: str, expected: Estimate) -> None:
    """Ranges, single numbers, units and stray spaces all parse to seconds."""
    assert parse_estimated_time(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "0s", None, 3, "1-3 minutes", "-2s"])
def test_unreadable_estimates_are_unknown(text: object) -> None:
    """Anything that is not a number of seconds means "unknown", never an exception."""
    assert parse_estimated_time(text) is None


def test_shaped_schedule_polls_densely_through_the_window() -> None:
    """Polls start at half the low estimate and cover the window in about ten steps."""
    moments = list(accumulate(islice(EstimateShaped().delays(Estimate(1, 3)), 12)))
    assert moments[0] == pytest.approx(0.5)
    in_window = [m for m in moments if m <= 3.0 + 1e-9]
    assert len(in_window) == 11
    gaps = [b - a for a, b in pairwise(in_window)]
    assert max(gaps) == pytest.approx(0.25)
    assert moments[11] - moments[10] > 0.25  # backs off once the window has passed


def test_shaped_schedule_backs_off_to_a_cap() -> None:
    """A generation that runs long is polled at most every `max_interval` seconds."""
    delays = list(islice(EstimateShaped(max_interval=2.0).delays(DEFAULT_ESTIMATE), 40))
    assert max(delays) == 2.0
    assert delays[-1] == 2.0


def test_fixed_interval_is_fixed() -> None:
    """The provider's suggested baseline: the same wait every time."""
    assert list(islice(FixedInterval(1.5).delays(DEFAULT_ESTIMATE), 3)) == [1.5, 1.5, 1.5]

"""The poll schedules and the reading of `estimatedTime`."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Iterator
from itertools import accumulate, islice, pairwise
from typing import Any

import aiohttp
import pytest

from bot.core.polling import (
    DEFAULT_ESTIMATE,
    Estimate,
    EstimateShaped,
    FixedInterval,
    LearnedSchedule,
    PollSchedule,
    parse_estimated_time,
)
from bot.core.requests import GenerationRequest
from bot.vibedream import VibeDreamClient
from tests.fakes.fake_vibedream import FakeVibeDream

SIZE = "512*512"
ESTIMATE = Estimate(1, 3)
Draw = Callable[[random.Random], float]


def uniform(low: float, high: float) -> Draw:
    return lambda rng: rng.uniform(low, high)


def simulate(
    schedule: PollSchedule, durations: list[float], size: str = SIZE, learn: bool = True
) -> list[tuple[float, int]]:
    """Run jobs one after another as the client would: poll at the schedule's moments until
    one is at or past the job's duration, tell the schedule, and return (delay, polls) per job."""
    results = []
    for duration in durations:
        after, moment, polls = 0.0, 0.0, 0
        for delay in schedule.delays(ESTIMATE, size):
            moment += delay
            polls += 1
            if moment >= duration:
                break
            after = moment
        if learn:
            schedule.observe(size, after, moment)
        results.append((moment - duration, polls))
    return results


def draws(distribution: Draw, count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [distribution(rng) for _ in range(count)]


def mean_delay(results: list[tuple[float, int]]) -> float:
    return statistics.fmean(delay for delay, _ in results)


def mean_polls(results: list[tuple[float, int]]) -> float:
    return statistics.fmean(polls for _, polls in results)


def schedule_for_tests(**options: Any) -> LearnedSchedule:
    return LearnedSchedule(rng=random.Random(0).random, **options)


def learned(distribution: Draw, jobs: int = 400, seed: int = 1) -> LearnedSchedule:
    schedule = schedule_for_tests()
    simulate(schedule, draws(distribution, jobs, seed))
    return schedule


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


def test_learned_schedule_falls_back_until_it_has_enough_samples() -> None:
    """Below `min_samples` observations of a size, it polls exactly as the fallback does."""
    schedule = schedule_for_tests(min_samples=20)
    expected = list(islice(EstimateShaped().delays(ESTIMATE), 30))
    simulate(schedule, draws(uniform(0.6, 2.5), 19, seed=1))
    assert schedule.plan(SIZE) is None
    assert list(islice(schedule.delays(ESTIMATE, SIZE), 30)) == expected
    simulate(schedule, draws(uniform(0.6, 2.5), 1, seed=2))
    assert schedule.plan(SIZE) is not None
    assert list(islice(schedule.delays(ESTIMATE, None), 30)) == expected  # no size, no plan


def test_learned_polls_stay_within_budget_over_the_learned_range() -> None:
    """After learning 0.6-2.5 s, at most 10 polls are planned and any job in range needs <= 10."""
    schedule = learned(uniform(0.6, 2.5))
    plan = schedule.plan(SIZE)
    assert plan is not None
    assert len(plan) <= 10
    assert plan[0] >= 0.6
    assert plan[-1] >= 2.5 - 0.05
    in_range = [0.6 + 1.9 * i / 1000 for i in range(1001) if 0.6 + 1.9 * i / 1000 <= plan[-1]]
    results = simulate(schedule, in_range, learn=False)
    assert max(polls for _, polls in results) <= 10
    assert max(b - a for a, b in pairwise(plan)) <= 0.3


def test_learned_schedule_beats_the_estimate_shaped_one() -> None:
    """On completions from the learned distribution: lower mean delay, and fewer polls."""
    schedule = learned(uniform(0.6, 2.5))
    durations = draws(uniform(0.6, 2.5), 2000, seed=7)
    ours = simulate(schedule, durations)
    theirs = simulate(EstimateShaped(), durations)
    assert mean_delay(ours) <= mean_delay(theirs)
    assert mean_delay(ours) <= 0.12
    assert mean_polls(ours) < mean_polls(theirs)
    assert mean_polls(ours) <= 6
    # Only a job slower than anything in the window can need an 11th poll.
    assert sum(polls > 10 for _, polls in ours) <= len(ours) // 200


def test_narrow_distributions_cost_fewer_polls() -> None:
    """When generations take 1.0-1.2 s, a few polls are enough for a small delay."""
    schedule = learned(uniform(1.0, 1.2))
    results = simulate(schedule, draws(uniform(1.0, 1.2), 1000, seed=3))
    assert mean_polls(results) <= 3
    assert mean_delay(results) <= 0.06


def test_learned_schedule_follows_a_slowdown() -> None:
    """Once generations take 3-5 s, the old 0.6-2.5 s samples age out of the bounded window."""
    schedule = learned(uniform(0.6, 2.5), jobs=600)
    results = simulate(schedule, draws(uniform(3.0, 5.0), 400, seed=4))
    plan = schedule.plan(SIZE)
    assert plan is not None
    assert plan[0] > 2.9  # nothing left of the old distribution's low end
    assert plan[-1] >= 4.9
    assert mean_delay(results[-200:]) <= 0.15


def test_learned_schedule_follows_a_speedup() -> None:
    """When jobs suddenly finish before the first planned poll, the plan moves early quickly."""
    schedule = learned(uniform(20.0, 25.0))
    results = simulate(schedule, draws(uniform(0.6, 2.5), 600, seed=5))
    plan = schedule.plan(SIZE)
    assert plan is not None
    assert plan[0] < 1.0
    assert mean_delay(results[-300:]) <= 0.12


def test_sizes_are_learned_separately() -> None:
    """Each size has its own samples and plan; an unseen size falls back."""
    schedule = schedule_for_tests()
    simulate(schedule, draws(uniform(0.6, 1.5), 300, seed=1), size="512*512")
    simulate(schedule, draws(uniform(4.0, 6.0), 300, seed=2), size="2048*2048")
    small, large = schedule.plan("512*512"), schedule.plan("2048*2048")
    assert small is not None and large is not None
    assert small[-1] < 1.7
    assert large[0] > 3.5
    assert schedule.plan("1024*1024") is None


def test_jobs_started_together_do_not_poll_in_lockstep() -> None:
    """Each job's polls but the last are shifted by its own share of the gaps; the last stays."""
    schedule = learned(uniform(0.6, 2.5))
    plan = schedule.plan(SIZE)
    assert plan is not None
    jobs = [list(accumulate(islice(schedule.delays(ESTIMATE, SIZE), len(plan)))) for _ in range(50)]
    firsts = [moments[0] for moments in jobs]
    assert max(firsts) - min(firsts) >= 0.5 * (plan[1] - plan[0])
    for moments in jobs:
        assert moments[-1] == pytest.approx(plan[-1])
        assert all(a < b for a, b in pairwise(moments))
        neighbours = zip((0.0, *plan), plan[1:], strict=False)
        assert all(a < m < b for m, (a, b) in zip(moments, neighbours, strict=False))


def test_learned_schedule_backs_off_past_its_plan() -> None:
    """A job slower than anything learned is polled with a back-off capped at `max_interval`."""
    schedule = learned(uniform(0.6, 2.5))
    plan = schedule.plan(SIZE)
    assert plan is not None
    delays = list(islice(schedule.delays(ESTIMATE, SIZE), len(plan) + 12))
    moments = list(accumulate(delays))
    assert moments[len(plan) - 1] == pytest.approx(plan[-1])
    tail = delays[len(plan) :]
    assert tail[0] == pytest.approx(0.3)
    assert all(a <= b for a, b in pairwise(tail))
    assert tail[-1] == 2.0


def test_learned_schedule_ignores_impossible_observations() -> None:
    """Intervals that end before they start, or are not finite, are not samples."""
    schedule = schedule_for_tests(min_samples=1)
    for after, before in [(1.0, 0.5), (0.0, 0.0), (float("nan"), 1.0), (0.0, float("inf"))]:
        schedule.observe(SIZE, after, before)
    assert schedule.plan(SIZE) is None


class Recording:
    """A schedule that polls as EstimateShaped does and keeps what it is told."""

    def __init__(self) -> None:
        self.observed: list[tuple[str, float, float]] = []

    def delays(self, estimate: Estimate, size: str | None = None) -> Iterator[float]:
        return EstimateShaped().delays(estimate, size)

    def observe(self, size: str, after: float, before: float) -> None:
        self.observed.append((size, after, before))


async def test_client_reports_the_interval_a_completion_fell_in(
    http: aiohttp.ClientSession,
) -> None:
    """wait(size=...) tells the schedule the last running poll and the completing poll, which
    bracket the generation time; without a size it tells nothing."""
    recording = Recording()
    async with FakeVibeDream(generation_time=0.35, estimated_time="0.2-0.5s") as fake:
        client = VibeDreamClient(
            http, base_url=fake.base_url, api_key=fake.api_key, schedule=recording
        )
        request = GenerationRequest(prompt="a quiet harbour", size=SIZE)
        for size in (SIZE, None):
            submission = await client.submit(request)
            await client.wait(submission.prediction_id, estimate=submission.estimate, size=size)
    assert len(recording.observed) == 1
    size, after, before = recording.observed[0]
    assert size == SIZE
    assert 0.1 <= after < 0.35 <= before + 0.02
    assert before - after == pytest.approx(0.1, abs=0.03)  # one step of the schedule

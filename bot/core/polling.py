"""When to poll a prediction.

The model finishes in about a second, so a fixed 1-2 s poll interval would add most of the wait a
user feels. `EstimateShaped` polls sparsely before the window of the provider's `estimatedTime`
opens, densely through it, and backs off once it has passed. `LearnedSchedule`, the client's
default, does better once it has seen some generations: it keeps the recent generation times per
size and places a budget of polls where completions actually land.
"""

from __future__ import annotations

import bisect
import math
import random
import re
import statistics
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

_NUMBER = r"(\d+(?:\.\d+)?)"
_ESTIMATE = re.compile(
    rf"^~?\s*{_NUMBER}\s*(?:(?:-|\u2013|to)\s*{_NUMBER})?\s*(ms|s|sec|secs|seconds?)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Estimate:
    """The provider's guess of how long a generation takes, in seconds."""

    low: float
    high: float

    def __str__(self) -> str:
        if self.low == self.high:
            return f"~{self.low:g}s"
        return f"{self.low:g}-{self.high:g}s"


# What the provider documents for this model; used when it sends nothing we can read.
DEFAULT_ESTIMATE = Estimate(1.0, 3.0)


def parse_estimated_time(text: object) -> Estimate | None:
    """Read "1-3s", "2s", "1.5 seconds", "500ms" or "2"; anything else is unknown (None)."""
    if not isinstance(text, str):
        return None
    match = _ESTIMATE.match(text.strip())
    if match is None:
        return None
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    scale = 0.001 if (match.group(3) or "").lower() == "ms" else 1.0
    low, high = sorted((low * scale, high * scale))
    if high <= 0:
        return None
    return Estimate(low, high)


class PollSchedule(Protocol):
    def delays(self, estimate: Estimate, size: str | None = None) -> Iterator[float]:
        """Seconds to wait before each successive poll, the first measured from the submit.

        `size` is the request's size ("1024*1024"); None when the caller does not know it.
        """
        ...

    def observe(self, size: str, after: float, before: float) -> None:
        """A prediction of `size` completed `after` < t <= `before` seconds from the submit:
        `after` is when a poll last found it still running (0 if none did), `before` is when the
        poll that found it done was sent."""
        ...


@dataclass(frozen=True)
class FixedInterval:
    """The provider's suggestion: poll every `interval` seconds. Kept as a baseline to measure."""

    interval: float = 1.5

    def delays(self, estimate: Estimate, size: str | None = None) -> Iterator[float]:
        while True:
            yield self.interval

    def observe(self, size: str, after: float, before: float) -> None:
        """A fixed interval learns nothing."""


@dataclass(frozen=True)
class EstimateShaped:
    """First poll at half the low estimate, then `window_polls` evenly through the window, then
    a geometric back-off capped at `max_interval` for generations that run long."""

    window_polls: int = 10
    min_interval: float = 0.1
    max_interval: float = 2.0
    backoff: float = 1.5

    def delays(self, estimate: Estimate, size: str | None = None) -> Iterator[float]:
        first = max(self.min_interval, estimate.low / 2)
        yield first
        step = max(self.min_interval, (estimate.high - first) / self.window_polls)
        elapsed = first
        while elapsed < estimate.high:
            yield step
            elapsed += step
        while True:
            step = min(self.max_interval, step * self.backoff)
            yield step

    def observe(self, size: str, after: float, before: float) -> None:
        """The provider's estimate is all this schedule goes by."""


@dataclass
class _History:
    """What one size has taught: recent (after, before] completion intervals, oldest first."""

    intervals: deque[tuple[float, float]]
    plan: tuple[float, ...] | None = None
    since_plan: int = 0  # observations since `plan` was computed


class LearnedSchedule:
    """Polls where recent generations of the same size completed.

    Per size it keeps the last `window` completion intervals: the prediction finished after the
    last poll that found it running and by the poll that found it done, in seconds from the
    submit. Until a size has `min_samples` of them it polls as `fallback` does. After that each
    job follows a plan of at most `max_polls` poll moments, recomputed every `refresh_every`
    observations:

    * the intervals are spread evenly over their span into a smooth estimate of the distribution
      of generation times (an interval that ends at the first poll has no lower bound; it is
      given the typical interval width);
    * polls are spaced with a density proportional to the square root of that distribution's
      density (the spacing that minimises the mean delay from completion to the next poll),
      optionally leaning denser towards the end, where a poll costs fewer jobs;
    * the number of polls, the range they cover (from a low to a high quantile) and the lean
      are chosen to minimise the predicted mean delay + `poll_cost` seconds per poll per job +
      `overrun_cost` seconds per job that would need more than `max_polls` polls. So a narrow
      distribution costs few polls, and a rare straggler does not stretch the plan.

    Every job's polls but the last are shifted by the same random share (up to `dither`) of
    their gaps, so that a burst of jobs submitted together does not poll in lockstep.

    The `max_polls` bound holds for jobs that finish within the learned range. One that runs
    past it (a straggler slower than anything in the window, or a provider slowing down) is
    polled with a back-off from `tail_first` by `backoff`, up to every `max_interval` seconds,
    until the caller's deadline. If most recent jobs completed at their first poll, the plan
    starts too late (the provider got faster): those intervals are then taken to start at zero,
    which pulls the next plans earlier.

    One instance serves every job of the process (one event loop: no locking).
    """

    def __init__(
        self,
        *,
        fallback: PollSchedule | None = None,
        window: int = 200,
        min_samples: int = 20,
        refresh_every: int = 20,
        max_polls: int = 10,
        poll_cost: float = 0.005,
        overrun_cost: float = 0.5,
        min_interval: float = 0.05,
        tail_first: float = 0.3,
        backoff: float = 1.5,
        max_interval: float = 2.0,
        dither: float = 0.5,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 1 <= min_samples <= window:
            raise ValueError("need 1 <= min_samples <= window")
        if max_polls < 1 or refresh_every < 1:
            raise ValueError("max_polls and refresh_every must be positive")
        self.fallback: PollSchedule = fallback if fallback is not None else EstimateShaped()
        self.window = window
        self.min_samples = min_samples
        self.refresh_every = refresh_every
        self.max_polls = max_polls
        self.poll_cost = poll_cost
        self.overrun_cost = overrun_cost
        self.min_interval = min_interval
        self.tail_first = tail_first
        self.backoff = backoff
        self.max_interval = max_interval
        self.dither = dither
        self._rng = rng
        self._sizes: dict[str, _History] = {}

    def observe(self, size: str, after: float, before: float) -> None:
        if not (math.isfinite(after) and math.isfinite(before)) or before <= max(after, 0.0):
            return  # a clock oddity, not a generation time
        history = self._sizes.get(size)
        if history is None:
            history = self._sizes[size] = _History(deque(maxlen=self.window))
        history.intervals.append((max(after, 0.0), before))
        history.since_plan += 1

    def plan(self, size: str | None) -> tuple[float, ...] | None:
        """The learned poll moments (seconds from the submit) for `size`, or None while it
        falls back: too few observations, or no size given."""
        history = self._sizes.get(size) if size is not None else None
        if history is None or len(history.intervals) < self.min_samples:
            return None
        if history.plan is None or history.since_plan >= self.refresh_every:
            history.plan = self._compute_plan(history.intervals)
            history.since_plan = 0
        return history.plan

    def delays(self, estimate: Estimate, size: str | None = None) -> Iterator[float]:
        moments = self.plan(size)
        if moments is None:
            yield from self.fallback.delays(estimate, size)
            return
        previous = 0.0
        for moment in self._dithered(moments):
            yield moment - previous
            previous = moment
        step = self.tail_first
        while True:
            yield step
            step = min(self.max_interval, step * self.backoff)

    def _dithered(self, moments: tuple[float, ...]) -> list[float]:
        """`moments` with every one but the last moved by the same random share (up to
        `dither`) of its gap to the next poll, or to the previous one when moved earlier, so
        that jobs submitted together do not poll in the same instant. The order is kept, and
        on average it costs next to nothing: the polls keep their spacing, at another phase."""
        phase = self.dither * (2 * self._rng() - 1)
        shifted = []
        for k, moment in enumerate(moments[:-1]):
            neighbour = moments[k + 1] if phase >= 0 or k == 0 else moments[k - 1]
            shifted.append(max(self.min_interval, moment + phase * abs(neighbour - moment)))
        return [*shifted, moments[-1]]

    def _tail(self, last: float) -> Iterator[float]:
        """The moments of the back-off polls after a plan's last one at `last`."""
        step, moment = self.tail_first, last
        while True:
            moment += step
            yield moment
            step = min(self.max_interval, step * self.backoff)

    def _compute_plan(self, intervals: Sequence[tuple[float, float]]) -> tuple[float, ...]:
        spread, top = _spread(intervals)
        grid = [_quantile(spread, (j + 0.5) / _GRID) for j in range(_GRID)]
        lows = sorted({_quantile(spread, q) for q in _LOW_QUANTILES})
        highs = sorted({_quantile(spread, q) for q in _HIGH_QUANTILES} | {top})
        shapes = [
            (low, high, weights)
            for low in lows
            for high in highs
            if high > low
            for weights in _bin_weights(spread, low, high)
        ]
        if not shapes:  # every observation at the same instant
            return (max(self.min_interval, top),)
        best: tuple[float, tuple[float, ...]] | None = None
        for polls in range(1, self.max_polls + 1):
            for low, high, weights in shapes:
                moments = self._tidy(_compand(low, high, weights, polls))
                delay, mean_polls, overrun = self._predict(moments, grid)
                score = delay + self.poll_cost * mean_polls + self.overrun_cost * overrun
                if best is None or score < best[0]:
                    best = (score, moments)
        assert best is not None
        return best[1]

    def _tidy(self, moments: list[float]) -> tuple[float, ...]:
        """Drop polls too close to the one before; stop at a gap the tail would poll sooner."""
        kept: list[float] = []
        for moment in moments:
            previous = kept[-1] if kept else 0.0
            if moment - previous < self.min_interval:
                continue
            if kept and moment - previous > self.max_interval:
                break
            kept.append(moment)
        return tuple(kept) or (self.min_interval,)

    def _predict(self, moments: tuple[float, ...], grid: list[float]) -> tuple[float, float, float]:
        """Over `grid` (sorted completion times, equally likely): the mean delay to detection,
        the mean number of polls, and the share of jobs needing more than `max_polls`."""
        polls, tail = list(moments), self._tail(moments[-1])
        delay, count, overrun, index = 0.0, 0, 0, 0
        for moment in grid:
            while polls[-1] < moment:
                polls.append(next(tail))
            while polls[index] < moment:
                index += 1
            delay += polls[index] - moment
            count += index + 1
            overrun += index >= self.max_polls
        return delay / len(grid), count / len(grid), overrun / len(grid)


_GRID = 128  # completion times the candidate plans are scored on
_POINTS_PER_INTERVAL = 4
_BINS = 24
_BIN_FLOOR = 0.05  # share of the weight spread evenly, so an empty bin still gets some polls
_LOW_QUANTILES = (0.0, 0.01)
_HIGH_QUANTILES = (0.9, 0.95, 0.98, 0.99)
# How much denser polls get where few jobs are still running: a poll late in the distribution is
# paid for by few jobs, an early one by nearly all of them.
_LEANS = (0.0, 1.0, 3.0)
_LAG_RECENT = 20  # how many recent observations decide whether the plan starts too late
_TIGHT = 1.25  # an interval at most this many typical widths long bounds its completion closely


def _spread(intervals: Sequence[tuple[float, float]]) -> tuple[list[float], float]:
    """Sorted points spread evenly over each interval, and the latest completion seen by a poll
    that closely followed a poll that found the job running."""
    widths = [before - after for after, before in intervals if after > 0]
    typical = statistics.median(widths) if widths else statistics.median(b for _, b in intervals)
    recent = list(intervals)[-_LAG_RECENT:]
    lagging = 2 * sum(after <= 0 for after, _ in recent) > len(recent)
    points: list[float] = []
    top = 0.0
    for after, before in intervals:
        low = after if after > 0 or lagging else max(0.0, before - typical)
        span = before - low
        points.extend(
            low + (j + 0.5) * span / _POINTS_PER_INTERVAL for j in range(_POINTS_PER_INTERVAL)
        )
        top = max(top, before if span <= _TIGHT * typical else (low + before) / 2)
    points.sort()
    return points, top


def _quantile(ordered: Sequence[float], fraction: float) -> float:
    position = fraction * (len(ordered) - 1)
    index = min(int(position), len(ordered) - 1)
    if index == len(ordered) - 1:
        return ordered[index]
    return ordered[index] + (ordered[index + 1] - ordered[index]) * (position - index)


def _bin_weights(points: Sequence[float], low: float, high: float) -> list[list[float]]:
    """For each of `_LEANS`, how many polls each bin of [low, high] deserves (relatively): the
    square root of the share of `points` in it (with a small even floor) over 1 + lean * the
    share of all points still running there.

    With lean 0 this is the spacing that minimises the mean detection delay for a number of
    polls; a larger lean trades some of that delay for fewer polls per job.
    """
    width = (high - low) / _BINS
    counts = [0] * _BINS
    inside = points[bisect.bisect_left(points, low) : bisect.bisect_right(points, high)]
    for point in inside:
        counts[min(_BINS - 1, int((point - low) / width))] += 1
    total = max(1, len(inside))
    shares = [count / total + _BIN_FLOOR / _BINS for count in counts]
    running = [
        1 - bisect.bisect_left(points, low + (b + 0.5) * width) / len(points) for b in range(_BINS)
    ]
    return [
        [math.sqrt(share / (1 + lean * left)) for share, left in zip(shares, running, strict=True)]
        for lean in _LEANS
    ]


def _compand(low: float, high: float, weights: Sequence[float], polls: int) -> list[float]:
    """`polls` moments in (low, high], the last at `high`, each between-poll gap holding an equal
    share of the weight."""
    width = (high - low) / len(weights)
    cumulative = [0.0]
    for weight in weights:
        cumulative.append(cumulative[-1] + weight)
    moments = []
    for i in range(1, polls + 1):
        target = cumulative[-1] * i / polls
        b = max(0, min(len(weights) - 1, bisect.bisect_left(cumulative, target) - 1))
        inside = min(1.0, max(0.0, (target - cumulative[b]) / weights[b]))
        moments.append(low + (b + inside) * width)
    return moments

"""When to poll a prediction: a schedule shaped by the provider's `estimatedTime`.

The model finishes in about a second, so a fixed 1-2 s poll interval would add most of the wait a
user feels. We poll sparsely before the estimate's window opens, densely through it, and back off
once it has passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    def delays(self, estimate: Estimate) -> Iterator[float]:
        """Seconds to wait before each successive poll, the first measured from the submit."""
        ...


@dataclass(frozen=True)
class FixedInterval:
    """The provider's suggestion: poll every `interval` seconds. Kept as a baseline to measure."""

    interval: float = 1.5

    def delays(self, estimate: Estimate) -> Iterator[float]:
        while True:
            yield self.interval


@dataclass(frozen=True)
class EstimateShaped:
    """First poll at half the low estimate, then `window_polls` evenly through the window, then
    a geometric back-off capped at `max_interval` for generations that run long."""

    window_polls: int = 10
    min_interval: float = 0.1
    max_interval: float = 2.0
    backoff: float = 1.5

    def delays(self, estimate: Estimate) -> Iterator[float]:
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

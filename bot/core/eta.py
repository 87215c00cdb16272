"""How long a waiting job has left, from how long recent generations took."""

from __future__ import annotations

import math
import statistics
from collections import deque

RECENT = 50  # generations remembered: enough to smooth one slow image, few enough to follow load


class RecentDurations:
    def __init__(self) -> None:
        self._seconds: deque[float] = deque(maxlen=RECENT)

    def add(self, seconds: float) -> None:
        self._seconds.append(seconds)

    def time_left(self, place_in_line: int, in_flight_limit: int) -> float | None:
        """Seconds until a job at `place_in_line` (1: next) has its image: the rounds of
        generations ahead of it, then its own, at the recent median. None before any is known."""
        if not self._seconds:
            return None
        rounds_ahead = math.ceil(place_in_line / max(in_flight_limit, 1))
        return (rounds_ahead + 1) * statistics.median(self._seconds)

"""The burst benchmark's machinery on a small burst, so that it keeps working as the bot changes."""

from __future__ import annotations

import math

import pytest

from benchmarks.burst import LABELS, run_burst


@pytest.mark.timeout(60)
async def test_a_small_burst_delivers_every_image_and_computes_every_figure() -> None:
    burst = await run_burst(20, deadline=30)

    assert burst.delivered == 20, burst
    assert burst.failed == 0
    assert set(burst.figures) == set(LABELS)
    assert all(math.isfinite(value) for value in burst.figures.values()), burst.figures
    assert burst.routes_per_job and all(n > 0 for n in burst.routes_per_job.values())
    assert burst.billed_cents == burst.ledger_cents == 20

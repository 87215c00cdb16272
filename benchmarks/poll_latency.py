"""How soon does the client notice a finished prediction, and how many polls does it cost?

Runs generations against the local fake API, with generation times spread uniformly from 0.6 s
to 2.5 s, once per poll schedule and burst size, and prints per schedule the mean and p99 delay
between a prediction completing and the client noticing it, and the polls per job.

Each run is a warm-up burst (what a schedule that learns gets to learn from) followed by the
measured burst, both through the same client; figures are given over all jobs of the run and
over the burst after the warm-up alone.

    python -m benchmarks.poll_latency [--jobs 200 1000] [--warmup 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.core.polling import EstimateShaped, FixedInterval, LearnedSchedule, PollSchedule
from bot.core.requests import GenerationRequest
from bot.vibedream import VibeDreamClient
from tests.fakes.fake_vibedream import FakeVibeDream

SCHEDULES: dict[str, Callable[[], PollSchedule]] = {
    "fixed 1.5 s (provider's advice)": lambda: FixedInterval(1.5),
    "fixed 1.0 s": lambda: FixedInterval(1.0),
    "estimate-shaped": EstimateShaped,
    "learned (the bot's)": LearnedSchedule,
}
REQUEST = GenerationRequest(prompt="benchmark", size="512*512")
Result = tuple[float, int]  # (detection delay in seconds, polls)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(results: list[Result]) -> dict[str, float]:
    delays = [delay for delay, _ in results]
    polls = [float(count) for _, count in results]
    return {
        "mean_ms": statistics.fmean(delays) * 1000,
        "p99_ms": percentile(delays, 0.99) * 1000,
        "polls_mean": statistics.fmean(polls),
        "polls_max": max(polls),
    }


async def measure(
    schedule: PollSchedule, jobs: int, warmup: int, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Figures over all jobs of the run, and over the measured burst after the warm-up."""
    spread = random.Random(seed)

    def generation_time(_body: dict[str, Any]) -> float:
        return spread.uniform(0.6, 2.5)

    async with (
        FakeVibeDream(generation_time=generation_time, estimated_time="1-3s") as fake,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        client = VibeDreamClient(
            session, base_url=fake.base_url, api_key=fake.api_key, schedule=schedule
        )

        async def one_job() -> Result:
            submission = await client.submit(REQUEST)
            await client.wait(
                submission.prediction_id, estimate=submission.estimate, size=REQUEST.size
            )
            noticed = time.monotonic()
            prediction = fake.predictions[submission.prediction_id]
            return noticed - prediction.completes_at, prediction.polls

        warm = await asyncio.gather(*(one_job() for _ in range(warmup)))
        burst = await asyncio.gather(*(one_job() for _ in range(jobs)))
    return summary([*warm, *burst]), summary(burst)


def row(label: str, figures: dict[str, float]) -> str:
    return (
        f"{label:44} {figures['mean_ms']:>8.0f} ms {figures['p99_ms']:>7.0f} ms"
        f" {figures['polls_mean']:>10.1f} {figures['polls_max']:>5.0f}"
    )


async def main(bursts: list[int], warmup: int, seed: int) -> None:
    print(f"generation 0.6-2.5 s uniform, estimatedTime '1-3s', warm-up burst of {warmup} jobs")
    # The client and the fake share one event loop: a busy machine shows as longer delays.
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}")
    for jobs in bursts:
        print()
        print(f"{f'burst of {jobs} jobs after the warm-up':44} {'mean delay':>11}", end="")
        print(f" {'p99 delay':>10} {'polls/job':>10} {'max':>5}")
        for name, make in SCHEDULES.items():
            everything, after_warmup = await measure(make(), jobs, warmup, seed)
            print(row(f"{name}, all {warmup + jobs} jobs", everything))
            print(row(f"{name}, after warm-up", after_warmup))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.warmup, arguments.seed))

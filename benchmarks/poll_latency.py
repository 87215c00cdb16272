"""How soon does the client notice a finished prediction, and how many polls does it cost?

Runs many generations against the local fake API, with generation times spread uniformly from
0.6 s to 2.5 s, once per poll schedule, and prints per schedule the mean and p99 delay between a
prediction completing and the client noticing it, and the polls per job.

    python -m benchmarks.poll_latency [--jobs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

import aiohttp

from bot.core.polling import EstimateShaped, FixedInterval, PollSchedule
from bot.core.requests import GenerationRequest
from bot.vibedream import VibeDreamClient
from tests.fakes.fake_vibedream import FakeVibeDream

SCHEDULES: dict[str, PollSchedule] = {
    "fixed 1.5 s (provider's advice)": FixedInterval(1.5),
    "fixed 1.0 s": FixedInterval(1.0),
    "estimate-shaped (the bot's)": EstimateShaped(),
}
REQUEST = GenerationRequest(prompt="benchmark", size="512*512")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(schedule: PollSchedule, jobs: int, seed: int) -> dict[str, float]:
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

        async def one_job() -> tuple[float, int]:
            submission = await client.submit(REQUEST)
            await client.wait(submission.prediction_id, estimate=submission.estimate)
            noticed = time.monotonic()
            prediction = fake.predictions[submission.prediction_id]
            return noticed - prediction.completes_at, prediction.polls

        results = await asyncio.gather(*(one_job() for _ in range(jobs)))
    delays = [delay for delay, _ in results]
    polls = [float(count) for _, count in results]
    return {
        "mean_ms": statistics.fmean(delays) * 1000,
        "p99_ms": percentile(delays, 0.99) * 1000,
        "polls_mean": statistics.fmean(polls),
        "polls_max": max(polls),
    }


async def main(jobs: int, seed: int) -> None:
    print(f"{jobs} jobs per schedule, generation 0.6-2.5 s uniform, estimatedTime '1-3s'")
    print(f"{'schedule':34} {'mean delay':>11} {'p99 delay':>10} {'polls/job':>10} {'max':>5}")
    for name, schedule in SCHEDULES.items():
        row = await measure(schedule, jobs, seed)
        print(
            f"{name:34} {row['mean_ms']:>8.0f} ms {row['p99_ms']:>7.0f} ms"
            f" {row['polls_mean']:>10.1f} {row['polls_max']:>5.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.seed))

"""Hundreds of jobs through the real bot while both fakes misbehave, and an account of it.

The fake API fails a share of calls at random (429s, 5xx, dropped connections, slow and
unreadable answers) and of predictions (moderation); the fake Discord rate-limits as Discord
does and fails a share of uploads with 502. Used by tests/test_fault_suite.py, and printed in
full by `python -m benchmarks.faults`.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.discord_harness import make_user
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_vibedream import FakeVibeDream
from tests.world import GENERAL, World, bot_world, started_fakes


@dataclass(frozen=True)
class FaultReport:
    jobs: int
    api_faults: dict[str, int]
    upload_failures: int
    discord_429s: int
    final_states: dict[str, int]
    visible_to_requester: int
    predictions_per_job_max: int
    ledger_cents: int
    billed_cents: int


async def run_fault_suite(
    tmp_path: Path, *, jobs: int, fault_rate: float = 0.10, seed: int = 3
) -> FaultReport:
    rng = random.Random(seed)
    fake_api = FakeVibeDream(
        generation_time=lambda _body: rng.uniform(0.05, 0.4),
        estimated_time="0.05-0.4s",
        fault_rate=fault_rate,
        seed=seed,
    )
    fake_discord = FakeDiscord(rate_limits=True, upload_failure_rate=0.05, seed=seed)
    async with (
        started_fakes(fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord) as world,
    ):
        users = [make_user(f"u{n}", user_id=300_000_000_000_000_000 + n) for n in range(30)]
        records = []
        for n in range(jobs):
            await asyncio.sleep(rng.expovariate(100))  # about 100 commands a second
            records.append(
                await world.command(
                    "imagine", GENERAL, as_user=rng.choice(users), prompt=f"fault {n}"
                )
            )
        finals = await asyncio.gather(*(world.settled(record, within=120) for record in records))
        await _wait_until_delivered(world)
        states = Counter(
            job.state.value
            for job in [await world.database.get_job(n + 1) for n in range(jobs)]
            if job
        )
        per_job = Counter(prediction.body["prompt"] for prediction in fake_api.predictions.values())
        return FaultReport(
            jobs=jobs,
            api_faults=dict(fake_api.faults_injected),
            upload_failures=fake_discord.upload_failures,
            discord_429s=sum(fake_discord.rate_limited.values()),
            final_states=dict(states),
            visible_to_requester=sum(
                1 for message in finals if message.attachments or message.content.startswith("❌")
            ),
            predictions_per_job_max=max(per_job.values(), default=0),
            ledger_cents=await world.database.total_charged_cents(),
            billed_cents=fake_api.billed_cents,
        )


async def _wait_until_delivered(world: World) -> None:
    """The last bookkeeping after a final edit happens a moment later."""
    for _ in range(200):
        if not await world.database.undelivered_jobs(since=0):
            return
        await asyncio.sleep(0.05)

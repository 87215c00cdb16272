"""How long the limit check and reservation take, against a ledger with a long history.

Fills a fresh database with past jobs (100,000 by default, over 60 days, 20 servers, 2,000
members), sets every limit on one server, then admits jobs one after another through the real
Admission.admit and prints the median and p99 time per request.

    python -m benchmarks.admission [--past 100000] [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bot.core.admission import Admission
from bot.core.leases import LeaseKeeper
from bot.core.models import JobState, Requester
from bot.core.policy import GuildPolicy
from bot.core.pricing import Pricing
from bot.core.requests import GenerationRequest
from bot.storage import open_storage

GUILDS = 20
MEMBERS = 2000
DAYS = 60


def seed_history(path: Path, count: int) -> None:
    """Write past jobs straight into the file, as a long-running ledger would hold them."""
    rng = random.Random(7)
    now = time.time()
    states = [JobState.COMPLETED] * 8 + [JobState.FAILED, JobState.RELEASED]
    rows = [
        (
            rng.randrange(MEMBERS),
            rng.randrange(GUILDS),
            1,
            state.value,
            "a past prompt",
            "1024*1024",
            "jpeg",
            rng.randrange(2**31),
            1,
            0 if state is JobState.RELEASED else 1,
            now - rng.uniform(0, DAYS * 86400),
        )
        for state in (rng.choice(states) for _ in range(count))
    ]
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO jobs (user_id, guild_id, channel_id, state, prompt, size, output_format,"
            " seed, reserved_cents, cost_cents, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )


async def main(past: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.db"
        database = await open_storage(f"sqlite:///{path}")
        seed_history(path, past)
        guild = 0
        policy = GuildPolicy(database)
        await policy.update_settings(
            guild,
            {
                "user_daily_images": 1_000_000,
                "user_cooldown_seconds": 0,
                "user_max_concurrent": 1_000_000,
                "guild_daily_budget_cents": 100_000_000,
                "guild_monthly_budget_cents": 100_000_000,
            },
        )
        for term in ("forbidden", "not allowed here"):
            await policy.set_term_blocked(guild, term, True)
        admission = Admission(database, policy, Pricing(), LeaseKeeper(database))
        request = GenerationRequest(prompt="a benchmark of the admission path")
        rng = random.Random(1)
        timings = []
        for _ in range(requests):
            requester = Requester(rng.randrange(MEMBERS), guild, 1)
            started = time.perf_counter()
            await admission.admit(requester, request)
            timings.append((time.perf_counter() - started) * 1000)
        await database.close()
    timings.sort()
    p99 = timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))]
    print(f"{requests} admissions against {past:,} past jobs ({GUILDS} servers, all limits set)")
    print(f"check + reserve: median {statistics.median(timings):.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--past", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.past, arguments.requests))

"""The real bot under load: many /imagine commands from many users in many channels.

The fake API runs in its own process, as the real one is remote; the fake Discord and the
code that plays the users share the bot's process, so the memory and event-loop figures are
upper bounds for the bot alone. Commands arrive at random (Poisson) over `--arrival` seconds.

    python -m benchmarks.load [--commands 500] [--users 100] [--channels 10] [--arrival 2.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import build_bot
from bot.db import Database
from bot.settings import Settings
from tests.fakes.discord_harness import make_guild, make_user, slash, text_channel
from tests.fakes.fake_discord import FakeDiscord, InteractionRecord

GUILD_ID = 400_000_000_000_000_001
FINAL_ROUTE = "PATCH /webhooks/{app}/{token}/messages/@original"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class ErrorCounter(logging.Handler):
    """Counts error log lines, and those about the database."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors = 0
        self.database = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
        self.errors += 1
        if "database" in text.lower() or "sqlite" in text.lower():
            self.database += 1
        if len(self.samples) < 3:
            self.samples.append(text[:200])


async def sample_loop_lag(lags: list[float], stop: asyncio.Event, interval: float = 0.01) -> None:
    """How late the event loop wakes a sleeper: the delay every other coroutine also sees."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(interval)
        lags.append(time.perf_counter() - started - interval)


def start_fake_api(seed: int, fault_rate: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.fake_vibedream",
            "--seed",
            str(seed),
            "--fault-rate",
            str(fault_rate),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


async def api_stats(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    origin = base_url.removesuffix("/api/v1")
    async with session.get(f"{origin}/_fake/stats") as response:
        return json.loads(await response.text())


async def main(commands: int, users: int, channels: int, arrival: float, seed: int) -> None:
    rng = random.Random(seed)
    api_process, api_url = start_fake_api(seed, 0.0)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    fake_discord = FakeDiscord(rate_limits=True, validate=False)
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                discord_token=fake_discord.token,
                vibedream_api_key="test-api-key",
                vibedream_base_url=api_url,
                database_url=f"sqlite:///{Path(folder) / 'load.db'}",
                generation_concurrency=commands,  # measure the bot, not a queue in front of it
                default_user_daily_images=0,
                default_user_max_concurrent=0,
                default_guild_daily_budget_cents=0,
                _env_file=None,  # type: ignore[call-arg]
            )
            async with fake_discord, aiohttp.ClientSession() as session:
                fake_discord.install()
                database = await Database.open(settings.database_path)
                bot = build_bot(settings, session, database)
                await bot.login(fake_discord.token)
                channel_ids = [500_000_000_000_000_100 + n for n in range(channels)]
                make_guild(
                    bot,
                    fake_discord,
                    guild_id=GUILD_ID,
                    channels=[
                        text_channel(f"c{n}", channel_id=c) for n, c in enumerate(channel_ids)
                    ],
                )
                people = [
                    make_user(f"user{n}", user_id=200_000_000_000_000_000 + n) for n in range(users)
                ]

                lags: list[float] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_loop_lag(lags, stop))
                started = time.monotonic()
                records: list[InteractionRecord] = []
                for n in range(commands):
                    await asyncio.sleep(rng.expovariate(commands / arrival))
                    records.append(
                        await slash(
                            bot,
                            fake_discord,
                            "imagine",
                            {"prompt": f"load {n}", "size": "512*512"},
                            user=rng.choice(people),
                            guild_id=GUILD_ID,
                            channel_id=rng.choice(channel_ids),
                        )
                    )

                def all_final() -> bool:
                    for record in records:
                        message = fake_discord.interaction_original(record.id)
                        if message is None or not (
                            message.attachments or message.content.startswith("❌")
                        ):
                            return False
                    return True

                await fake_discord.wait_for(all_final, timeout=300)
                elapsed = time.monotonic() - started
                stop.set()
                await sampler
                stats = await api_stats(session, api_url)
                await bot.shutdown(grace_seconds=10)
                await database.close()
    finally:
        api_process.terminate()
        api_process.wait(timeout=10)

    report(records, fake_discord, stats, lags, errors, elapsed, commands, users, channels, arrival)


def report(
    records: list[InteractionRecord],
    fake_discord: FakeDiscord,
    stats: dict[str, Any],
    lags: list[float],
    errors: ErrorCounter,
    elapsed: float,
    commands: int,
    users: int,
    channels: int,
    arrival: float,
) -> None:
    predictions = list(stats["predictions"].values())
    by_prompt = {p["prompt"]: p for p in predictions}
    first = [r.response_delay * 1000 for r in records if r.response_delay is not None]
    detection = [(p["observed_at"] - p["completes_at"]) * 1000 for p in predictions]
    polls = [p["polls"] for p in predictions]
    edits = Counter(
        request.path.split("/")[-3]
        for request in fake_discord.requests
        if request.route == FINAL_ROUTE
    )
    per_job_edits = [edits[record.token] for record in records]
    finals = {
        request.path.split("/")[-3]: request.time
        for request in fake_discord.requests
        if request.route == FINAL_ROUTE and request.files
    }
    added = []
    for n, record in enumerate(records):
        prediction = by_prompt.get(f"load {n}")
        if prediction and record.token in finals:
            generation = prediction["completes_at"] - prediction["created"]
            added.append((finals[record.token] - record.delivered_at - generation) * 1000)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate_limited = sum(fake_discord.rate_limited.values())

    print(
        f"{commands} /imagine from {users} users in {channels} channels over {arrival:g}s;"
        f" generation 0.6-2.5 s; all done in {elapsed:.1f}s"
    )
    print(
        f"first response      p50 {percentile(first, 0.5):7.1f} ms   p99 {percentile(first, 0.99):7.1f} ms"
    )
    print(
        f"detection delay    mean {statistics.fmean(detection):7.1f} ms   p99 {percentile(detection, 0.99):7.1f} ms"
    )
    print(f"polls per job      mean {statistics.fmean(polls):7.1f}      max {max(polls)}")
    print(
        f"edits per job      mean {statistics.fmean(per_job_edits):7.1f}      max {max(per_job_edits)}"
    )
    print(
        f"bot's added time    p50 {percentile(added, 0.5):7.1f} ms   p99 {percentile(added, 0.99):7.1f} ms"
        "  (end to end minus generation: submit, detection, download, upload)"
    )
    print(
        f"event-loop lag      p99 {percentile(lags, 0.99) * 1000:7.1f} ms   max {max(lags) * 1000:.1f} ms"
    )
    print(f"peak memory (RSS)       {peak_mib:7.1f} MiB (bot, fake Discord and the users' driver)")
    print(f"429s from Discord       {rate_limited}")
    print(f"errors logged           {errors.errors} (database: {errors.database}) {errors.samples}")
    print(
        f"billed                  {stats['billed_cents']} cents for {len(predictions)} predictions"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--arrival", type=float, default=2.5)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.commands,
            arguments.users,
            arguments.channels,
            arguments.arrival,
            arguments.seed,
        )
    )

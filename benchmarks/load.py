"""The real bot under load: many /imagine commands from many users in many channels.

The fake API and the fake Discord each run in a process of their own, as the real ones are
remote, so the memory and event-loop figures are the bot's own (with the small driver that
plays the users). Commands arrive at random (Poisson) over `--arrival` seconds.

    python -m benchmarks.load [--commands 500] [--users 100] [--channels 10] [--arrival 2.5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import resource
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._harness import (
    ErrorCounter,
    api_stats,
    percentile,
    sample_loop_lag,
    start_fake_api,
)
from bot.app import build_bot
from bot.settings import Settings
from bot.storage import open_storage
from tests.fakes.discord_harness import make_guild, make_user, slash, text_channel
from tests.fakes.discord_process import RemoteFakeDiscord, RemoteRecord

GUILD_ID = 400_000_000_000_000_001


@dataclass
class Run:
    records: list[RemoteRecord]
    stats: dict[str, Any]
    discord: dict[str, Any]
    lags: list[float]
    elapsed: float


async def drive(
    settings: Settings, fake_discord: RemoteFakeDiscord, api_url: str, arguments: argparse.Namespace
) -> Run:
    """Start the bot, play the users, wait for every reply to reach its final state."""
    rng = random.Random(arguments.seed)
    async with aiohttp.ClientSession() as session:
        database = await open_storage(settings.database_url)
        bot = build_bot(settings, session, database)
        await bot.login(fake_discord.token)
        channel_ids = [500_000_000_000_000_100 + n for n in range(arguments.channels)]
        channels = [text_channel(f"c{n}", channel_id=c) for n, c in enumerate(channel_ids)]
        make_guild(bot, fake_discord, guild_id=GUILD_ID, channels=channels)  # type: ignore[arg-type]
        people = [
            make_user(f"u{n}", user_id=200_000_000_000_000_000 + n) for n in range(arguments.users)
        ]

        lags: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_loop_lag(lags, stop))
        started = time.monotonic()
        records: list[RemoteRecord] = []
        for n in range(arguments.commands):
            await asyncio.sleep(rng.expovariate(arguments.commands / arguments.arrival))
            records.append(
                await slash(  # type: ignore[arg-type]
                    bot,
                    fake_discord,  # type: ignore[arg-type]
                    "imagine",
                    {"prompt": f"load {n}", "size": "512*512"},
                    user=rng.choice(people),
                    guild_id=GUILD_ID,
                    channel_id=rng.choice(channel_ids),
                )
            )
        ids = [record.id for record in records]
        deadline = time.monotonic() + 300
        while await fake_discord.call("finished", ids) < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError("replies did not all reach a final state")
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
        stop.set()
        await sampler
        stats = await api_stats(session, api_url)
        exported = await fake_discord.call("export")
        await bot.shutdown(grace_seconds=10)
        await database.close()
    return Run(records, stats, exported, lags, elapsed)


async def main(arguments: argparse.Namespace) -> None:
    api_process, api_url = start_fake_api(arguments.seed, 0.0)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    fake_discord = RemoteFakeDiscord(rate_limits=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            fake_discord.install()
            settings = Settings(
                discord_token=fake_discord.token,
                vibedream_api_key="test-api-key",
                vibedream_base_url=api_url,
                database_url=f"sqlite:///{Path(folder) / 'load.db'}",
                default_user_daily_images=0,
                default_user_max_concurrent=0,
                default_guild_daily_budget_cents=0,
                _env_file=None,
            )
            run = await drive(settings, fake_discord, api_url, arguments)
            await fake_discord.aclose()
    finally:
        fake_discord.close()
        api_process.terminate()
        api_process.wait(timeout=10)
    report(run, errors, arguments)


def row(name: str, first: str, second: str = "") -> None:
    print(f"{name:22} {first:>22} {second:>22}")


def report(run: Run, errors: ErrorCounter, arguments: argparse.Namespace) -> None:
    predictions = list(run.stats["predictions"].values())
    by_prompt = {p["prompt"]: p for p in predictions}
    interactions = run.discord["interactions"]
    first = [
        (i["first_response_at"] - i["delivered_at"]) * 1000
        for i in interactions.values()
        if i["first_response_at"] is not None
    ]
    detection = [(p["observed_at"] - p["completes_at"]) * 1000 for p in predictions]
    polls = [p["polls"] for p in predictions]
    edits = Counter(edit["token"] for edit in run.discord["edits"])
    per_job_edits = [edits[record.token] for record in run.records]
    finals = {edit["token"]: edit["time"] for edit in run.discord["edits"] if edit["files"]}
    added = []
    for n, record in enumerate(run.records):
        prediction = by_prompt.get(f"load {n}")
        if prediction and record.token in finals:
            generation = prediction["completes_at"] - prediction["created"]
            delivered = interactions[str(record.id)]["delivered_at"]
            added.append((finals[record.token] - delivered - generation) * 1000)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate_limited = run.discord["rate_limited"]
    lags = run.lags
    stats = run.stats

    print(
        f"{arguments.commands} /imagine from {arguments.users} users in {arguments.channels}"
        f" channels over {arguments.arrival:g}s; generation 0.6-2.5 s; done in {run.elapsed:.1f}s"
    )
    row(
        "first response",
        f"p50 {percentile(first, 0.5):.1f} ms",
        f"p99 {percentile(first, 0.99):.1f} ms",
    )
    row(
        "detection delay",
        f"mean {statistics.fmean(detection):.1f} ms",
        f"p99 {percentile(detection, 0.99):.1f} ms",
    )
    row("polls per job", f"mean {statistics.fmean(polls):.1f}", f"max {max(polls)}")
    row("edits per job", f"mean {statistics.fmean(per_job_edits):.1f}", f"max {max(per_job_edits)}")
    row(
        "bot's added time",
        f"p50 {percentile(added, 0.5):.1f} ms",
        f"p99 {percentile(added, 0.99):.1f} ms",
    )
    row(
        "event-loop lag",
        f"p99 {percentile(lags, 0.99) * 1000:.1f} ms",
        f"max {max(lags) * 1000:.1f} ms",
    )
    row("peak memory (RSS)", f"{peak_mib:.1f} MiB")
    row("429s from Discord", str(rate_limited))
    row("errors logged", str(errors.errors), f"database: {errors.database}")
    row("billed", f"{stats['billed_cents']} cents", f"{len(predictions)} predictions")
    for sample in errors.samples:
        print("  error:", sample)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--arrival", type=float, default=2.5)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))

"""The real bot under load: many /imagine commands from many users in many channels.

The fake API runs in its own process, as the real one is remote; the fake Discord runs in a
thread with its own event loop, so the bot's loop serves only the bot (they still share the
process's memory and its interpreter lock, so those figures are upper bounds for the bot alone).
Commands arrive at random (Poisson) over `--arrival` seconds.

    python -m benchmarks.load [--commands 500] [--users 100] [--channels 10] [--arrival 2.5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
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


@contextlib.contextmanager
def fake_discord_in_thread(fake: FakeDiscord) -> Iterator[None]:
    """Serve the fake Discord from its own thread and event loop until the block ends."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(fake.close())
        loop.close()

    thread = threading.Thread(target=serve, name="fake-discord", daemon=True)
    thread.start()
    ready.wait()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()


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


@dataclass
class Run:
    records: list[InteractionRecord]
    stats: dict[str, Any]
    lags: list[float]
    elapsed: float


async def drive(
    settings: Settings, fake_discord: FakeDiscord, api_url: str, arguments: argparse.Namespace
) -> Run:
    """Start the bot, play the users, wait for every reply to reach its final state."""
    rng = random.Random(arguments.seed)
    async with aiohttp.ClientSession() as session:
        database = await Database.open(settings.database_path)
        bot = build_bot(settings, session, database)
        await bot.login(fake_discord.token)
        channel_ids = [500_000_000_000_000_100 + n for n in range(arguments.channels)]
        channels = [text_channel(f"c{n}", channel_id=c) for n, c in enumerate(channel_ids)]
        make_guild(bot, fake_discord, guild_id=GUILD_ID, channels=channels)
        people = [
            make_user(f"u{n}", user_id=200_000_000_000_000_000 + n) for n in range(arguments.users)
        ]

        lags: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_loop_lag(lags, stop))
        started = time.monotonic()
        records: list[InteractionRecord] = []
        for n in range(arguments.commands):
            await asyncio.sleep(rng.expovariate(arguments.commands / arguments.arrival))
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
            return all(is_final(fake_discord, record) for record in records)

        await fake_discord.wait_for(all_final, timeout=300)
        elapsed = time.monotonic() - started
        stop.set()
        await sampler
        stats = await api_stats(session, api_url)
        await bot.shutdown(grace_seconds=10)
        await database.close()
    return Run(records, stats, lags, elapsed)


def is_final(fake_discord: FakeDiscord, record: InteractionRecord) -> bool:
    message = fake_discord.interaction_original(record.id)
    return message is not None and bool(message.attachments or message.content.startswith("❌"))


async def main(arguments: argparse.Namespace) -> None:
    api_process, api_url = start_fake_api(arguments.seed, 0.0)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    fake_discord = FakeDiscord(rate_limits=True, validate=False)
    try:
        with tempfile.TemporaryDirectory() as folder, fake_discord_in_thread(fake_discord):
            fake_discord.install()
            settings = Settings(
                discord_token=fake_discord.token,
                vibedream_api_key="test-api-key",
                vibedream_base_url=api_url,
                database_url=f"sqlite:///{Path(folder) / 'load.db'}",
                generation_concurrency=arguments.commands,  # the bot, not a queue before it
                default_user_daily_images=0,
                default_user_max_concurrent=0,
                default_guild_daily_budget_cents=0,
                _env_file=None,  # type: ignore[call-arg]
            )
            run = await drive(settings, fake_discord, api_url, arguments)
    finally:
        api_process.terminate()
        api_process.wait(timeout=10)
    report(run, fake_discord, errors, arguments)


def row(name: str, first: str, second: str = "") -> None:
    print(f"{name:22} {first:>22} {second:>22}")


def report(
    run: Run, fake_discord: FakeDiscord, errors: ErrorCounter, arguments: argparse.Namespace
) -> None:
    records, stats, lags = run.records, run.stats, run.lags
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

"""Pieces the load and burst benchmarks share: the fakes in processes of their own, the
event-loop lag sampler, the error counter and the percentile they report with.

Run as `python -m benchmarks._harness` it is `tests.fakes.discord_process` whose export also
lists every request the fake Discord served (route, time, status), for per-route counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import aiohttp

from tests.fakes import discord_process
from tests.fakes.discord_process import RemoteFakeDiscord
from tests.fakes.fake_discord import FakeDiscord, InteractionRecord


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


def stop_process(process: subprocess.Popen[str]) -> None:
    """Terminate a child by its PID; kill it if it does not stop in ten seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def api_stats(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    origin = base_url.removesuffix("/api/v1")
    async with session.get(f"{origin}/_fake/stats") as response:
        stats: dict[str, Any] = json.loads(await response.text())
        return stats


# -- the fake Discord, with every request in its export and clocks a burst can start -----

START_CLOCKS = "start-clocks"  # a registration that is no interaction (their types are ints)
_stock_export = discord_process._export


def _export_with_requests(fake: FakeDiscord) -> dict[str, Any]:
    exported = _stock_export(fake)
    exported["requests"] = [[r.route, r.time, r.status] for r in fake.requests]
    return exported


class _ClockedFakeDiscord(FakeDiscord):
    """A FakeDiscord on which registering {"type": START_CLOCKS} restarts, now, the 3 s and
    15 min clocks of every interaction not yet answered: those registered ahead of a burst
    start them when the burst is delivered, not while the others were being registered."""

    def register_interaction(self, payload: dict[str, Any]) -> InteractionRecord:
        if payload.get("type") != START_CLOCKS:
            return super().register_interaction(payload)
        now = self.clock()
        for record in self.interactions.values():
            if not record.acknowledged:
                record.delivered_at = now
        return InteractionRecord(0, "", 0, payload, now, None, None, None)


@contextlib.contextmanager
def _serving_module(module: str) -> Iterator[None]:
    """While RemoteFakeDiscord starts its process, have it run `module` instead."""
    real = subprocess.Popen

    def popen(args: list[str], **options: Any) -> subprocess.Popen[str]:
        swapped = [module if arg == discord_process.__name__ else arg for arg in args]
        return real(swapped, **options)

    stand_in = SimpleNamespace(Popen=popen, PIPE=subprocess.PIPE)
    with mock.patch.object(discord_process, "subprocess", stand_in):
        yield


class BurstFakeDiscord(RemoteFakeDiscord):
    """A RemoteFakeDiscord (its process runs `python -m benchmarks._harness`) whose `export`
    also carries "requests": [route, time, status] for every request served, and whose
    interactions' clocks `start_clocks` restarts at the moment of a burst."""

    def __init__(self, rate_limits: bool = True) -> None:
        with _serving_module("benchmarks._harness"):
            super().__init__(rate_limits=rate_limits)

    @property
    def pid(self) -> int:
        return self._process.pid

    def close(self) -> None:
        stop_process(self._process)

    async def start_clocks(self) -> None:
        """Restart the clocks of every registered, unanswered interaction; once this returns
        they run from a moment no later than now."""
        await self.call("register", {"type": START_CLOCKS})


if __name__ == "__main__":
    discord_process._export = _export_with_requests
    with mock.patch.object(discord_process, "FakeDiscord", _ClockedFakeDiscord):
        discord_process.main()

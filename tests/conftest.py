"""Shared fixtures: a fake VibeDream API on loopback, a real aiohttp session, a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.db import Database
from bot.jobs import JobRunner
from bot.vibedream import RetryPolicy, Timeouts, VibeDreamClient
from tests.fakes.fake_vibedream import FakeVibeDream

# Quick retries and timeouts so fault tests take milliseconds, not seconds.
FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)
FAST_TIMEOUTS = Timeouts(submit=0.5, poll=0.5, download=2.0, connect=0.5)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeVibeDream]:
    # A short estimate keeps the first poll early, so each test takes milliseconds.
    async with FakeVibeDream(estimated_time="0.05-0.3s") as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(fake_api: FakeVibeDream, http: aiohttp.ClientSession) -> VibeDreamClient:
    return VibeDreamClient(
        http,
        base_url=fake_api.base_url,
        api_key=fake_api.api_key,
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "imagine.db")
    yield db
    await db.close()


@pytest.fixture
def runner(database: Database, api: VibeDreamClient) -> JobRunner:
    return JobRunner(database, api, max_seconds=10.0)

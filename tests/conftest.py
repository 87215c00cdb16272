"""Shared fixtures: the fakes on loopback, a real aiohttp session, a real SQLite file, and a
whole bot running against them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.core.admission import Admission
from bot.core.composer import Composer
from bot.core.delivery import DeliveryBook
from bot.core.history import History
from bot.core.leases import LeaseKeeper
from bot.core.policy import GuildPolicy
from bot.core.ports import Storage
from bot.core.preferences import PreferenceBook
from bot.core.pricing import Pricing
from bot.core.quotes import Quoter
from bot.core.runner import JobRunner
from bot.core.services import Services
from bot.core.styles import StyleBook
from bot.storage import open_storage
from bot.vibedream import VibeDreamClient
from cogs._i18n import require_translations
from tests.fakes.fake_vibedream import FakeVibeDream
from tests.world import FAST_RETRY, FAST_TIMEOUTS, World, mention_problems, running_world

# Every text a test makes the bot show must be translated in every catalogue, or it fails.
require_translations()


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
async def database(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_storage(f"sqlite:///{tmp_path / 'imagine.db'}")
    yield storage
    await storage.close()


@pytest.fixture
def services(database: Storage, api: VibeDreamClient) -> Services:
    """The core with no limits, over the SQLite ledger and the fake API."""
    policy = GuildPolicy(database)
    pricing = Pricing()
    leases = LeaseKeeper(database)
    styles, preferences = StyleBook(database), PreferenceBook(database)
    return Services(
        policy=policy,
        leases=leases,
        admission=Admission(database, policy, pricing, leases),
        quotes=Quoter(policy, pricing, database),
        runner=JobRunner(database, api, pricing, leases, max_seconds=10.0),
        delivery=DeliveryBook(database, policy, leases),
        ledger=database,
        usage=database,
        history=History(database, database),
        styles=styles,
        preferences=preferences,
        composer=Composer(styles, preferences, policy),
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """The bot against both fakes. Whatever the test did, every body the bot sent must have
    matched Discord's OpenAPI spec and been unable to ping anyone it should not."""
    async with running_world(tmp_path) as world:
        yield world
        assert world.discord.schema_errors == []
        for body in world.sent_bodies():
            assert mention_problems(body) == [], body

"""The adapters the contract suite runs against: SQLite always; PostgreSQL where a server is
given in TEST_DATABASE_URL (and, under CI, required)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.core.ports import Storage
from bot.storage import open_storage

OpenStorage = Callable[[], Awaitable[Storage]]
ADAPTERS = ["sqlite"]


@pytest.fixture(params=ADAPTERS)
async def open_adapter(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OpenStorage]:
    """Opens the adapter under test over one fresh database, as many times as a test asks
    (each open is what another process would have); closes them all afterwards."""
    url = f"sqlite:///{tmp_path / 'contract.db'}"
    opened: list[Storage] = []

    async def open_one() -> Storage:
        storage = await open_storage(url)
        opened.append(storage)
        return storage

    yield open_one
    for storage in opened:
        await storage.close()


@pytest.fixture
async def storage(open_adapter: OpenStorage) -> Storage:
    return await open_adapter()

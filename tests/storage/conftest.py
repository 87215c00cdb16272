"""The adapters the contract suite runs against: SQLite always; PostgreSQL where a server is
given in TEST_DATABASE_URL (and, under CI, required)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from bot.core.ports import Storage
from bot.storage import open_storage

OpenStorage = Callable[[], Awaitable[Storage]]
ADAPTERS = ["sqlite", "postgresql"]


def postgres_server_url() -> str:
    """TEST_DATABASE_URL: a database on the server to test against, used to create and drop
    one fresh database per test. Unset, the PostgreSQL tests are skipped, except under CI
    (CI=true), where they must run."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        message = "TEST_DATABASE_URL is not set: no PostgreSQL server to test against"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (required under CI)")
        pytest.skip(message)
    return url


@asynccontextmanager
async def fresh_postgres_database(server_url: str | None = None) -> AsyncIterator[str]:
    """Create an empty database on the test server, yield its URL, and drop it afterwards
    (closing whatever connections are still open to it)."""
    server_url = server_url or postgres_server_url()
    name = f"test_{uuid.uuid4().hex}"
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
            await admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of an empty PostgreSQL database of this test's own."""
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=ADAPTERS)
async def open_adapter(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OpenStorage]:
    """Opens the adapter under test over one fresh database, as many times as a test asks
    (each open is what another process would have); closes them all afterwards."""
    async with AsyncExitStack() as cleanup:
        if request.param == "postgresql":
            url = await cleanup.enter_async_context(fresh_postgres_database())
        else:
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

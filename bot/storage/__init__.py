"""Storage adapters, one package per engine, and the factory that picks one from the
`DATABASE_URL` scheme."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.core.ports import Storage

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SUPPORTED_URLS = "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/dbname"


class UnsupportedDatabaseUrl(ValueError):
    pass


def sqlite_path(url: str) -> Path:
    """`sqlite:///data/x.db` is relative to the working directory; `sqlite:////x.db` is not."""
    return Path(url.removeprefix("sqlite:///"))


async def open_storage(
    url: str, *, clock: Callable[[], float] = time.time, exclusive: bool = False
) -> Storage:
    """Open (creating and migrating as needed) the database that `url` names. `exclusive` is
    for the bot itself: an SQLite file is then refused while another process uses it."""
    if url.startswith("sqlite:///") and url != "sqlite:///":
        from bot.storage.sqlite import SqliteStorage

        return await SqliteStorage.open(sqlite_path(url), clock=clock, exclusive=exclusive)
    if url.startswith(POSTGRES_SCHEMES):
        from bot.storage.postgres import PostgresStorage

        return await PostgresStorage.open(url, clock=clock)
    raise UnsupportedDatabaseUrl(SUPPORTED_URLS)

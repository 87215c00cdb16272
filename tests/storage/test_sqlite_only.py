"""What only the SQLite adapter does: it serves one process, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.ports import StorageUnavailable
from bot.storage import open_storage
from bot.storage.sqlite.adapter import SqliteFileInUse


async def test_a_second_process_on_one_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    """While one bot holds the file, another is refused with a sentence naming the way out;
    once the first lets go, the file opens again."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    first = await open_storage(url, exclusive=True)
    try:
        with pytest.raises(SqliteFileInUse, match="PostgreSQL"):
            await open_storage(url, exclusive=True)
    finally:
        await first.close()
    again = await open_storage(url, exclusive=True)
    await again.close()


async def test_a_file_that_cannot_be_created_is_storage_unavailable(tmp_path: Path) -> None:
    """A path under a regular file fails as the port's error, not a driver's."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(StorageUnavailable, match="cannot use"):
        await open_storage(f"sqlite:///{blocker / 'bot.db'}", exclusive=True)

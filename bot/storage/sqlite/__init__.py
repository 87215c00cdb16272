"""The embedded engine: one SQLite file in WAL mode, for a bot that runs as one process."""

from bot.storage.sqlite.adapter import SqliteStorage

__all__ = ["SqliteStorage"]

"""The server engine: PostgreSQL through a connection pool, for a bot that may run as several
processes (one per group of shards) over one database."""

from bot.storage.postgres.adapter import PostgresStorage

__all__ = ["PostgresStorage"]

"""The SQLite data layer: every SQL statement the bot runs lives in this module.

One aiosqlite connection in WAL mode with a busy timeout. Every write runs inside
`BEGIN IMMEDIATE` under an asyncio lock, so coroutines sharing the connection never interleave
inside one another's transaction and other processes wait instead of failing.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.vibedream import GenerationRequest

BUSY_TIMEOUT_MS = 10_000
_MIGRATION_NAME = re.compile(r"^(\d{4})_\w+\.sql$")


class JobState(StrEnum):
    RESERVED = "reserved"  # admitted and counted against limits; the API has not been called
    SUBMITTED = "submitted"  # the API accepted it: billed, prediction id known
    COMPLETED = "completed"
    FAILED = "failed"  # ended without an image; any cost stays on the books
    RELEASED = "released"  # ended before the API accepted it: nothing was spent


@dataclass(frozen=True)
class Requester:
    """Who asked for a generation, and where."""

    user_id: int
    guild_id: int | None
    channel_id: int


@dataclass(frozen=True)
class Job:
    id: int
    requester: Requester
    state: JobState
    request: GenerationRequest
    prediction_id: str | None
    reserved_cents: int
    cost_cents: int | None
    error_code: str | None
    error: str | None
    created_at: float
    submitted_at: float | None
    finished_at: float | None

    @property
    def charged_cents(self) -> int:
        """What this job counts as spent: the API's figure, else (unknown) the reservation."""
        return self.cost_cents if self.cost_cents is not None else self.reserved_cents


@dataclass(frozen=True)
class GuildSettings:
    """A server's own choices; None means the bot-wide default applies (or no limit)."""

    guild_id: int
    default_size: str | None = None
    default_format: str | None = None
    user_daily_images: int | None = None
    user_cooldown_seconds: int | None = None
    user_max_concurrent: int | None = None
    guild_daily_budget_cents: int | None = None
    guild_monthly_budget_cents: int | None = None
    timezone: str | None = None
    log_channel_id: int | None = None
    exempt_role_id: int | None = None


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("bot") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    def __init__(self, connection: aiosqlite.Connection, clock: Callable[[], float]) -> None:
        self._connection = connection
        self._clock = clock
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, clock: Callable[[], float] = time.time) -> Database:
        """Open (creating if needed) the database file and bring its schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        # Fetch every pragma's rows: a statement left unfinished holds a read snapshot open,
        # and a connection holding one cannot take the write lock later.
        for pragma in (
            f"busy_timeout = {BUSY_TIMEOUT_MS}",
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "foreign_keys = ON",
        ):
            await connection.execute_fetchall(f"PRAGMA {pragma}")
        database = cls(connection, clock)
        await database.migrate()
        return database

    async def close(self) -> None:
        await self._connection.close()

    async def schema_version(self) -> int:
        row = await self._fetch_one("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every numbered migration newer than the file's `user_version`, each atomically."""
        async with self._write_lock:
            current = await self.schema_version()
            for number, script in _migrations():
                if number > current:
                    await self._connection.executescript(
                        f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                    )
                    current = number
        return current

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                await self._connection.execute("ROLLBACK")
                raise
            await self._connection.execute("COMMIT")

    # --- the jobs ledger --------------------------------------------------------------------

    async def reserve_job(
        self, requester: Requester, request: GenerationRequest, *, reserved_cents: int
    ) -> Job:
        """Record a generation before the API is called."""
        async with self._transaction() as connection:
            cursor = await connection.execute(
                """
                INSERT INTO jobs (user_id, guild_id, channel_id, state, prompt, size,
                                  output_format, seed, strength, reference_url, reserved_cents,
                                  created_at)
                VALUES (?, ?, ?, 'reserved', ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    requester.user_id,
                    requester.guild_id,
                    requester.channel_id,
                    request.prompt,
                    request.size,
                    request.output_format,
                    request.seed,
                    request.strength if request.image else None,
                    request.image,
                    reserved_cents,
                    self._clock(),
                ),
            )
            job_id = cursor.lastrowid
        job = await self.get_job(int(job_id or 0))
        assert job is not None
        return job

    async def mark_submitted(self, job_id: int, prediction_id: str, cost_cents: int | None) -> None:
        """The API accepted the job: from here on it has a cost and can be resumed."""
        await self._update(
            "UPDATE jobs SET state = 'submitted', prediction_id = ?, cost_cents = ?,"
            " submitted_at = ? WHERE id = ? AND state = 'reserved'",
            (prediction_id, cost_cents, self._clock(), job_id),
        )

    async def settle(
        self,
        job_id: int,
        state: JobState,
        *,
        error_code: str | None = None,
        error: str | None = None,
    ) -> None:
        """End a job. Released jobs cost nothing; others keep whatever cost was recorded."""
        if state not in (JobState.COMPLETED, JobState.FAILED, JobState.RELEASED):
            raise ValueError(f"{state} is not a final state")
        await self._update(
            "UPDATE jobs SET state = ?, error_code = ?, error = ?, finished_at = ?,"
            " cost_cents = CASE WHEN ? = 'released' THEN 0 ELSE cost_cents END"
            " WHERE id = ? AND state IN ('reserved', 'submitted')",
            (state.value, error_code, error, self._clock(), state.value, job_id),
        )

    async def get_job(self, job_id: int) -> Job | None:
        row = await self._fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(row) if row else None

    async def jobs_in_flight(self) -> list[Job]:
        """Jobs a previous run left reserved or submitted, oldest first."""
        rows = await self._connection.execute_fetchall(
            "SELECT * FROM jobs WHERE state IN ('reserved', 'submitted') ORDER BY id"
        )
        return [_job_from_row(row) for row in rows]

    async def total_charged_cents(self) -> int:
        """All money the ledger counts as spent, across every server."""
        row = await self._fetch_one(
            "SELECT COALESCE(SUM(COALESCE(cost_cents, reserved_cents)), 0) FROM jobs"
        )
        return int(row[0]) if row else 0

    # --- per-server settings ----------------------------------------------------------------

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        row = await self._fetch_one("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
        if row is None:
            return GuildSettings(guild_id)
        fields = dict(zip(row.keys(), row, strict=True))
        del fields["updated_at"]
        return GuildSettings(**fields)

    # --- the bot's own state ----------------------------------------------------------------

    async def get_state(self, key: str) -> str | None:
        row = await self._fetch_one("SELECT value FROM bot_state WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_state(self, key: str, value: str) -> None:
        await self._update(
            "INSERT INTO bot_state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def _fetch_one(self, sql: str, parameters: tuple[Any, ...] = ()) -> aiosqlite.Row | None:
        # execute_fetchall runs and finishes the statement in one step on the connection's
        # thread. A cursor left open across an await would hold a read snapshot that makes
        # another coroutine's BEGIN IMMEDIATE fail at once with "database is locked".
        rows = await self._connection.execute_fetchall(sql, parameters)
        return next(iter(rows), None)

    async def _update(self, sql: str, parameters: tuple[Any, ...]) -> None:
        # Even a single UPDATE takes the write lock up front: one that starts as a reader fails
        # at once, without waiting, when another process commits first.
        async with self._transaction() as connection:
            await connection.execute(sql, parameters)


def _job_from_row(row: aiosqlite.Row) -> Job:
    request = GenerationRequest.model_construct(
        prompt=row["prompt"],
        size=row["size"],
        output_format=row["output_format"],
        seed=row["seed"],
        strength=row["strength"] if row["strength"] is not None else 0.6,
        image=row["reference_url"],
    )
    return Job(
        id=row["id"],
        requester=Requester(row["user_id"], row["guild_id"], row["channel_id"]),
        state=JobState(row["state"]),
        request=request,
        prediction_id=row["prediction_id"],
        reserved_cents=row["reserved_cents"],
        cost_cents=row["cost_cents"],
        error_code=row["error_code"],
        error=row["error"],
        created_at=row["created_at"],
        submitted_at=row["submitted_at"],
        finished_at=row["finished_at"],
    )

"""The SQLite adapter: every SQL statement the bot runs on SQLite lives in this module.

SQLite in WAL mode with a busy timeout, so readers never wait and writers queue instead of
failing. Everyday reads and writes are single statements on one aiosqlite connection, each
atomic on its own. The one multi-statement transaction, admitting a job (check every limit,
then record it), runs whole in a worker thread on a connection of its own: one thread hop
instead of one per statement, and `BEGIN IMMEDIATE` makes it atomic against every other
writer, in this process or another.
"""

from __future__ import annotations

import asyncio
import fcntl
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any, Self, TypeVar

import aiosqlite

from bot.core.limits import Usage
from bot.core.models import (
    FINAL_STATES,
    GUILD_SETTING_FIELDS,
    PREFERENCE_FIELDS,
    GalleryEntry,
    GuildConfig,
    GuildSettings,
    Job,
    JobState,
    Lease,
    MemberPreferences,
    MemberTotal,
    MessageRef,
    PromptChoice,
    ReplyKind,
    ReplyPlace,
    Requester,
    ShardScope,
    Style,
    Tally,
    style_key,
)
from bot.core.ports import AdmissionCheck, StorageUnavailable
from bot.core.requests import GenerationRequest
from bot.storage.job_rows import job_parameters

BUSY_TIMEOUT_SECONDS = 10.0
_PRAGMAS = (
    f"busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}",
    "journal_mode = WAL",
    "synchronous = NORMAL",
    "foreign_keys = ON",
)
# What a job counts as spent: the API's figure, else (unknown) what was reserved for it.
_CHARGED = "COALESCE(SUM(COALESCE(cost_cents, reserved_cents)), 0)"
_OPEN = "('reserved', 'submitting', 'submitted')"
_Result = TypeVar("_Result")
_MIGRATION_NAME = re.compile(r"^(\d{4})_\w+\.sql$")


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files(__package__) / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


@dataclass
class _Admission:
    usage_parameters: dict[str, Any]
    check: Callable[[sqlite3.Row], None]
    jobs_parameters: list[tuple[Any, ...]]  # one row per job, each without its batch_id
    outcome: asyncio.Future[list[sqlite3.Row]]


class _AdmissionConnection:
    """A plain sqlite3 connection for admissions, run in a worker thread. Admissions that
    arrive while a batch is being written wait for the next batch, which records them all in
    one write transaction: a burst costs one thread hop and one commit per batch instead of
    per job, and each admission still reads the usage after every one before it."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS
        )
        self._connection.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:
            self._connection.execute(f"PRAGMA {pragma}").fetchall()
        self._lock = threading.Lock()
        self._pending: list[_Admission] = []
        self._writing: asyncio.Task[None] | None = None

    async def admit(
        self,
        usage_parameters: dict[str, Any],
        check: Callable[[sqlite3.Row], None],
        jobs_parameters: list[tuple[Any, ...]],
    ) -> list[sqlite3.Row]:
        """Read the usage, let `check` refuse (by raising), else insert the jobs."""
        loop = asyncio.get_running_loop()
        admission = _Admission(usage_parameters, check, jobs_parameters, loop.create_future())
        self._pending.append(admission)
        if self._writing is None:
            self._writing = loop.create_task(self._write_batches())
        return await admission.outcome

    async def _write_batches(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    outcomes = await asyncio.to_thread(self._write, batch)
                except Exception as error:  # the transaction failed: so did every admission
                    outcomes = [error] * len(batch)
                for admission, outcome in zip(batch, outcomes, strict=True):
                    if admission.outcome.done():
                        continue  # its caller stopped waiting
                    if isinstance(outcome, Exception):
                        admission.outcome.set_exception(outcome)
                    else:
                        admission.outcome.set_result(outcome)
        finally:
            self._writing = None

    def _write(self, batch: list[_Admission]) -> list[list[sqlite3.Row] | Exception]:
        outcomes: list[list[sqlite3.Row] | Exception] = []
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                for admission in batch:
                    usage = self._connection.execute(_USAGE, admission.usage_parameters)
                    try:
                        admission.check(usage.fetchone())
                    except Exception as refusal:
                        outcomes.append(refusal)
                        continue
                    outcomes.append(self._insert_jobs(admission.jobs_parameters))
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
        return outcomes

    def _insert_jobs(self, jobs_parameters: list[tuple[Any, ...]]) -> list[sqlite3.Row]:
        first, *others = jobs_parameters
        rows = [self._connection.execute(_INSERT_JOB, (*first, None)).fetchone()]
        if others:
            batch_id = rows[0]["id"]
            rows = [self._connection.execute(_JOIN_OWN_BATCH, (batch_id,)).fetchone()]
            for parameters in others:
                rows.append(
                    self._connection.execute(_INSERT_JOB, (*parameters, batch_id)).fetchone()
                )
        return rows

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class SqliteStorage:
    one_process_only = True
    identify_spacing = 5.0  # seconds between gateway sessions starting

    def __init__(
        self,
        connection: aiosqlite.Connection,
        admissions: _AdmissionConnection,
        clock: Callable[[], float],
        lock: IO[bytes] | None,
    ) -> None:
        self._connection = connection
        self._admissions = admissions
        self._clock = clock
        self._lock = lock
        self._identify = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: Path, *, clock: Callable[[], float] = time.time, exclusive: bool = False
    ) -> Self:
        """Open (creating if needed) the database file and bring its schema up to date. With
        `exclusive`, refuse (SqliteFileInUse) while another process has it open so."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = _lock_file(path) if exclusive else None
        except OSError as error:
            raise StorageUnavailable(f"cannot use {path}: {error.strerror or error}") from None
        try:
            connection = await _translated(aiosqlite.connect, path, isolation_level=None)
        except BaseException:
            if lock is not None:
                lock.close()
            raise
        try:
            connection.row_factory = aiosqlite.Row
            # Fetch every pragma's rows: a statement left unfinished holds a read snapshot
            # open, and a connection holding one cannot take the write lock later.
            for pragma in _PRAGMAS:
                await _translated(connection.execute_fetchall, f"PRAGMA {pragma}")
            # SQLite's own lower() folds ASCII only; prompt search folds like PostgreSQL's.
            await connection.create_function("unicode_lower", 1, str.lower, deterministic=True)
            admissions = await _translated(asyncio.to_thread, _AdmissionConnection, path)
            database = cls(connection, admissions, clock, lock)
            await database.migrate()
        except BaseException:
            await connection.close()  # else its thread keeps the process alive for ever
            if lock is not None:
                lock.close()
            raise
        return database

    async def close(self) -> None:
        await asyncio.to_thread(self._admissions.close)
        await self._connection.close()
        if self._lock is not None:
            self._lock.close()  # and with it the lock

    async def take_identify_turn(self) -> None:
        """One process on the file: sessions start `identify_spacing` apart within it."""
        await self._identify.acquire()
        asyncio.get_running_loop().call_later(self.identify_spacing, self._identify.release)

    async def listen_guild_changes(self, callback: Callable[[int], None]) -> None:
        """Nothing to hear: one process owns the file, and its own writes invalidate."""

    async def schema_version(self) -> int:
        row = await self._fetch_one("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every numbered migration newer than the file's `user_version`, each atomically.
        Runs at open, before anything else uses the connection."""
        current = await self.schema_version()
        for number, script in _migrations():
            if number > current:
                await self._connection.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                )
                current = number
        return current

    # --- the jobs ledger --------------------------------------------------------------------

    async def reserve_jobs(
        self,
        requester: Requester,
        requests: Sequence[GenerationRequest],
        *,
        reserved_cents: int,
        counted_since: tuple[float, float],
        admit: AdmissionCheck,
        reply: ReplyPlace,
        lease: Lease,
    ) -> list[Job]:
        """Record generations before the API is called.

        `admit` sees the requester's and the server's usage (counted from the Unix times
        `counted_since`: the start of the day and of the month) and may raise to refuse; it runs
        inside the same write transaction as the inserts, so concurrent requests cannot both
        take the last place under a limit.
        """
        usage_parameters = {
            "guild": requester.guild_id,
            "user": requester.user_id,
            "day": counted_since[0],
            "month": counted_since[1],
            "now": self._clock(),
        }

        def check(row: sqlite3.Row) -> None:
            admit(Usage(*row))

        now = self._clock()
        rows = await _translated(
            self._admissions.admit,
            usage_parameters,
            check,
            [
                job_parameters(requester, request, reserved_cents, now, reply, lease)
                for request in requests
            ],
        )
        return [_job_from_row(row) for row in rows]

    async def mark_submitting(self, job_id: int, owner: str) -> bool:
        """The submit is about to be sent: from here on the job may have been billed."""
        return (
            await self._update(
                "UPDATE jobs SET state = 'submitting'"
                " WHERE id = ? AND state = 'reserved' AND lease_owner = ?",
                (job_id, owner),
            )
            > 0
        )

    async def mark_submitted(
        self, job_id: int, owner: str, prediction_id: str, cost_cents: int | None
    ) -> bool:
        """The API accepted the job: from here on it has a cost and can be resumed."""
        return (
            await self._update(
                "UPDATE jobs SET state = 'submitted', prediction_id = ?, cost_cents = ?,"
                " submitted_at = ? WHERE id = ? AND state = 'submitting' AND lease_owner = ?",
                (prediction_id, cost_cents, self._clock(), job_id, owner),
            )
            > 0
        )

    async def settle(
        self,
        job_id: int,
        owner: str,
        state: JobState,
        *,
        error_code: str | None = None,
        error: str | None = None,
    ) -> bool:
        """End a job. Released jobs cost nothing; others keep whatever cost was recorded."""
        if state not in FINAL_STATES:
            raise ValueError(f"{state} is not a final state")
        return (
            await self._update(
                "UPDATE jobs SET state = ?, error_code = ?, error = ?, finished_at = ?,"
                " cost_cents = CASE WHEN ? = 'released' THEN 0 ELSE cost_cents END"
                f" WHERE id = ? AND lease_owner = ? AND state IN {_OPEN}",
                (state.value, error_code, error, self._clock(), state.value, job_id, owner),
            )
            > 0
        )

    async def jobs_in_batch(self, batch_id: int) -> list[Job]:
        rows = await self._fetch_all(
            "SELECT * FROM jobs WHERE batch_id = ? ORDER BY id", (batch_id,)
        )
        return [_job_from_row(row) for row in rows]

    async def get_job(self, job_id: int) -> Job | None:
        row = await self._fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(row) if row else None

    async def jobs_in_flight(self) -> list[Job]:
        """Jobs not yet ended, oldest first."""
        rows = await self._fetch_all(f"SELECT * FROM jobs WHERE state IN {_OPEN} ORDER BY id")
        return [_job_from_row(row) for row in rows]

    async def undelivered_jobs(self, *, since: float) -> list[Job]:
        """Jobs created since `since` whose requester has not yet seen how they ended."""
        rows = await self._fetch_all(
            "SELECT * FROM jobs WHERE delivered_at IS NULL AND created_at >= ? ORDER BY id",
            (since,),
        )
        return [_job_from_row(row) for row in rows]

    async def renew_leases(
        self, owner: str, job_ids: Collection[int], expires_at: float
    ) -> set[int]:
        """Extend this owner's leases; returns the ids it still holds."""
        if not job_ids:
            return set()
        marks = ", ".join("?" * len(job_ids))
        rows = await self._fetch_all(
            f"UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND id IN ({marks})"
            " AND delivered_at IS NULL RETURNING id",
            (expires_at, owner, *job_ids),
        )
        return {row[0] for row in rows}

    async def claim_jobs(
        self,
        owner: str,
        scope: ShardScope,
        *,
        expired_before: float,
        expires_at: float,
        limit: int,
    ) -> list[Job]:
        """Take over undelivered jobs in `scope` whose lease expired before `expired_before`
        (their process died), oldest first. One statement: two claimers cannot both win."""
        rows = await self._fetch_all(
            "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id IN ("
            " SELECT id FROM jobs WHERE delivered_at IS NULL"
            " AND COALESCE(lease_expires_at, 0) < ?"
            f" AND {_in_scope(scope)} ORDER BY id LIMIT ?) RETURNING *",
            (owner, expires_at, expired_before, limit),
        )
        return sorted((_job_from_row(row) for row in rows), key=lambda job: job.id)

    async def set_reply(self, job_id: int, reply: ReplyPlace) -> None:
        """Remember where a job's reply is shown, once that is known."""
        await self._update(
            "UPDATE jobs SET reply_kind = ?, reply_message_id = ?, reply_token = ?,"
            " reply_token_expires_at = ? WHERE id = ?",
            (reply.kind.value, reply.message_id, reply.token, reply.token_expires_at, job_id),
        )

    async def mark_delivered(
        self, job_id: int, owner: str, *, result: MessageRef | None = None
    ) -> None:
        """The requester has seen the outcome: the token and the lease are no longer needed;
        `result` is the message showing the image, if there is one."""
        await self._update(
            "UPDATE jobs SET delivered_at = ?, reply_token = NULL, lease_expires_at = NULL,"
            " result_channel_id = COALESCE(?, result_channel_id),"
            " result_message_id = COALESCE(?, result_message_id)"
            " WHERE id = ? AND lease_owner = ?",
            (
                self._clock(),
                result.channel_id if result else None,
                result.message_id if result else None,
                job_id,
                owner,
            ),
        )

    async def total_charged_cents(self) -> int:
        """All money the ledger counts as spent, across every server."""
        row = await self._fetch_one(f"SELECT {_CHARGED} FROM jobs")
        return int(row[0]) if row else 0

    # --- usage reports ----------------------------------------------------------------------

    async def tally(
        self, guild_id: int | None, *, user_id: int | None = None, since: float = 0.0
    ) -> Tally:
        """A server's (or one member's) images, generations and spending since `since`."""
        row = await self._fetch_one(
            f"""
            SELECT COUNT(*) FILTER (WHERE state = 'completed'),
                   COUNT(*) FILTER (WHERE state != 'released'),
                   {_CHARGED}
            FROM jobs
            WHERE guild_id IS :guild AND (:user IS NULL OR user_id = :user) AND created_at >= :since
            """,
            {"guild": guild_id, "user": user_id, "since": since},
        )
        assert row is not None
        return Tally(*row)

    async def last_job_at(self, guild_id: int | None, user_id: int) -> float | None:
        row = await self._fetch_one(
            "SELECT MAX(created_at) FROM jobs"
            " WHERE guild_id IS ? AND user_id = ? AND state != 'released'",
            (guild_id, user_id),
        )
        return row[0] if row else None

    async def top_members(
        self, guild_id: int, *, since: float, limit: int = 10
    ) -> list[MemberTotal]:
        """The members who spent the most since `since`, biggest first."""
        rows = await self._fetch_all(
            f"""
            SELECT user_id,
                   COUNT(*) FILTER (WHERE state = 'completed'),
                   COUNT(*) FILTER (WHERE state != 'released'),
                   {_CHARGED} AS cents
            FROM jobs WHERE guild_id = ? AND created_at >= ?
            GROUP BY user_id ORDER BY cents DESC, user_id LIMIT ?
            """,
            (guild_id, since, limit),
        )
        return [MemberTotal(row[0], Tally(row[1], row[2], row[3])) for row in rows]

    async def job_times(self, guild_id: int, *, since: float) -> list[tuple[float, bool, int]]:
        """(created_at, completed, charged cents) of a server's jobs since `since`, for charts."""
        rows = await self._fetch_all(
            "SELECT created_at, state = 'completed', COALESCE(cost_cents, reserved_cents)"
            " FROM jobs WHERE guild_id = ? AND created_at >= ? AND state != 'released'",
            (guild_id, since),
        )
        return [(row[0], bool(row[1]), row[2]) for row in rows]

    # --- history: prompts, favourites, the gallery -------------------------------------------

    async def prompt_history(
        self, guild_id: int, user_id: int, *, containing: str, recent: int, longest: int, limit: int
    ) -> list[PromptChoice]:
        """The member's favourite, then recent, prompts holding `containing`, de-duplicated."""
        rows = await self._fetch_all(
            _PROMPT_HISTORY,
            {
                "guild": guild_id,
                "user": user_id,
                "typed": containing.lower(),
                "recent": recent,
                "longest": longest,
                "limit": limit,
            },
        )
        return [PromptChoice(row[0], bool(row[1])) for row in rows]

    async def toggle_favourite(self, user_id: int, job_id: int) -> bool:
        """Remove the favourite if it was one, else add it (for a job that exists)."""
        removed = await self._update(
            "DELETE FROM favourites WHERE user_id = ? AND job_id = ?", (user_id, job_id)
        )
        if removed:
            return False
        added = await self._update(
            "INSERT INTO favourites (user_id, job_id, guild_id, created_at)"
            " SELECT ?, id, guild_id, ? FROM jobs WHERE id = ? ON CONFLICT DO NOTHING",
            (user_id, self._clock(), job_id),
        )
        return added > 0

    async def forget_result_messages(self, message_ids: Collection[int]) -> int:
        """Deleted messages no longer show their results."""
        if not message_ids:
            return 0
        marks = ", ".join("?" * len(message_ids))
        return await self._update(
            "UPDATE jobs SET result_channel_id = NULL, result_message_id = NULL"
            f" WHERE result_message_id IN ({marks})",
            tuple(message_ids),
        )

    async def gallery(
        self,
        guild_id: int,
        *,
        user_id: int | None,
        channel_ids: Collection[int] | None,
        offset: int,
        limit: int,
    ) -> list[GalleryEntry]:
        """Delivered results in this server (or of one member there, or shown in some of its
        channels), newest first."""
        member = "" if user_id is None else " AND user_id = :user"
        channels = {f"channel{n}": channel for n, channel in enumerate(channel_ids or ())}
        if channel_ids is not None:
            member += f" AND result_channel_id IN ({', '.join(f':{name}' for name in channels)})"
        rows = await self._fetch_all(
            "SELECT id, user_id, prompt, created_at, result_channel_id, result_message_id"
            " FROM jobs WHERE guild_id = :guild"
            f"{member} AND result_message_id IS NOT NULL AND state = 'completed'"
            " ORDER BY id DESC LIMIT :limit OFFSET :offset",
            {"guild": guild_id, "user": user_id, "limit": limit, "offset": offset, **channels},
        )
        return [
            GalleryEntry(row[0], row[1], row[2], row[3], MessageRef(row[4], row[5])) for row in rows
        ]

    # --- per-server settings ----------------------------------------------------------------

    async def load_guild_config(self, guild_id: int) -> GuildConfig:
        row = await self._fetch_one("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
        settings = GuildSettings(guild_id)
        if row is not None:
            fields = dict(zip(row.keys(), row, strict=True))
            del fields["updated_at"]
            if fields["personal_suffixes"] is not None:  # SQLite keeps booleans as 0 and 1
                fields["personal_suffixes"] = bool(fields["personal_suffixes"])
            settings = GuildSettings(**fields)
        channels = await self._fetch_all(
            "SELECT channel_id FROM guild_channels WHERE guild_id = ?", (guild_id,)
        )
        terms = await self._fetch_all(
            "SELECT term FROM blocked_terms WHERE guild_id = ? ORDER BY term", (guild_id,)
        )
        return GuildConfig(
            settings,
            frozenset(row[0] for row in channels),
            tuple(row[0] for row in terms),
        )

    async def update_guild_settings(self, guild_id: int, changes: Mapping[str, object]) -> None:
        """Set some of a server's settings; a None value returns that one to the default."""
        unknown = set(changes) - GUILD_SETTING_FIELDS
        if unknown:
            raise ValueError(f"unknown guild settings: {sorted(unknown)}")
        if changes:
            # Column names come from GUILD_SETTING_FIELDS only; values are bound parameters.
            columns = ", ".join(changes)
            placeholders = ", ".join(f":{name}" for name in changes)
            updates = ", ".join(f"{name} = excluded.{name}" for name in changes)
            await self._update(
                f"INSERT INTO guild_settings (guild_id, {columns}, updated_at)"
                f" VALUES (:guild_id, {placeholders}, :now)"
                f" ON CONFLICT (guild_id) DO UPDATE SET {updates}, updated_at = :now",
                {**changes, "guild_id": guild_id, "now": self._clock()},
            )

    async def set_channel_allowed(self, guild_id: int, channel_id: int, allowed: bool) -> bool:
        """Add or remove a channel from the server's list; False when nothing changed."""
        sql = (
            "INSERT OR IGNORE INTO guild_channels (guild_id, channel_id) VALUES (?, ?)"
            if allowed
            else "DELETE FROM guild_channels WHERE guild_id = ? AND channel_id = ?"
        )
        return await self._update(sql, (guild_id, channel_id)) > 0

    async def set_term_blocked(self, guild_id: int, term: str, blocked: bool) -> bool:
        """Add or remove a blocked term (stored lower-case); False when nothing changed."""
        sql = (
            "INSERT OR IGNORE INTO blocked_terms (guild_id, term) VALUES (?, ?)"
            if blocked
            else "DELETE FROM blocked_terms WHERE guild_id = ? AND term = ?"
        )
        return await self._update(sql, (guild_id, term.lower())) > 0

    # --- styles and preferences -------------------------------------------------------------

    async def list_styles(self, guild_id: int) -> list[Style]:
        rows = await self._fetch_all(
            "SELECT * FROM styles WHERE guild_id = ? ORDER BY name_key", (guild_id,)
        )
        return [_style_from_row(row) for row in rows]

    async def get_style(self, guild_id: int, name: str) -> Style | None:
        row = await self._fetch_one(
            "SELECT * FROM styles WHERE guild_id = ? AND name_key = ?",
            (guild_id, style_key(name)),
        )
        return _style_from_row(row) if row else None

    async def create_style(self, style: Style) -> bool:
        return (
            await self._update(
                "INSERT OR IGNORE INTO styles"
                " (guild_id, name_key, name, template, default_size, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    style.guild_id,
                    style.key,
                    style.name,
                    style.template,
                    style.default_size,
                    self._clock(),
                ),
            )
            > 0
        )

    async def update_style(self, style: Style) -> bool:
        return (
            await self._update(
                "UPDATE styles SET template = ?, default_size = ?, updated_at = ?"
                " WHERE guild_id = ? AND name_key = ?",
                (style.template, style.default_size, self._clock(), style.guild_id, style.key),
            )
            > 0
        )

    async def delete_style(self, guild_id: int, name: str) -> bool:
        """Channel defaults naming it go with it (ON DELETE CASCADE)."""
        return (
            await self._update(
                "DELETE FROM styles WHERE guild_id = ? AND name_key = ?",
                (guild_id, style_key(name)),
            )
            > 0
        )

    async def set_channel_style(self, guild_id: int, channel_id: int, name: str | None) -> None:
        if name is None:
            await self._update(
                "DELETE FROM channel_styles WHERE guild_id = ? AND channel_id = ?",
                (guild_id, channel_id),
            )
            return
        await self._update(
            "INSERT INTO channel_styles (guild_id, channel_id, name_key) VALUES (?, ?, ?)"
            " ON CONFLICT (guild_id, channel_id) DO UPDATE SET name_key = excluded.name_key",
            (guild_id, channel_id, style_key(name)),
        )

    async def channel_style(self, guild_id: int, channel_id: int) -> Style | None:
        row = await self._fetch_one(
            "SELECT styles.* FROM channel_styles JOIN styles USING (guild_id, name_key)"
            " WHERE channel_styles.guild_id = ? AND channel_styles.channel_id = ?",
            (guild_id, channel_id),
        )
        return _style_from_row(row) if row else None

    async def channel_styles(self, guild_id: int) -> dict[int, str]:
        rows = await self._fetch_all(
            "SELECT channel_id, styles.name FROM channel_styles JOIN styles"
            " USING (guild_id, name_key) WHERE channel_styles.guild_id = ?",
            (guild_id,),
        )
        return {row[0]: row[1] for row in rows}

    async def load_preferences(self, guild_id: int, user_id: int) -> MemberPreferences:
        row = await self._fetch_one(
            "SELECT size, output_format, count, suffix FROM member_preferences"
            " WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        rows = await self._fetch_all(
            "SELECT name, value FROM option_sets WHERE guild_id = ? AND user_id = ? ORDER BY name",
            (guild_id, user_id),
        )
        size, output_format, count, suffix = row or (None, None, None, None)
        option_sets = {name: value for name, value in rows}
        return MemberPreferences(size, output_format, count, suffix, option_sets=option_sets)

    async def update_preferences(
        self, guild_id: int, user_id: int, changes: Mapping[str, object]
    ) -> None:
        unknown = set(changes) - PREFERENCE_FIELDS
        if unknown:
            raise ValueError(f"unknown preferences: {sorted(unknown)}")
        if changes:
            # Column names come from PREFERENCE_FIELDS only; values are bound parameters.
            columns = ", ".join(changes)
            placeholders = ", ".join(f":{name}" for name in changes)
            updates = ", ".join(f"{name} = excluded.{name}" for name in changes)
            await self._update(
                f"INSERT INTO member_preferences (guild_id, user_id, {columns}, updated_at)"
                f" VALUES (:guild_id, :user_id, {placeholders}, :now)"
                f" ON CONFLICT (guild_id, user_id) DO UPDATE SET {updates}, updated_at = :now",
                {**changes, "guild_id": guild_id, "user_id": user_id, "now": self._clock()},
            )

    async def clear_preferences(self, guild_id: int, user_id: int) -> bool:
        removed = 0
        for table in ("member_preferences", "option_sets"):
            removed += await self._update(
                f"DELETE FROM {table} WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
        return removed > 0

    async def set_option_set(self, guild_id: int, user_id: int, name: str, value: str) -> None:
        await self._update(
            "INSERT INTO option_sets (guild_id, user_id, name, value) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (guild_id, user_id, name) DO UPDATE SET value = excluded.value",
            (guild_id, user_id, name, value),
        )

    async def delete_option_set(self, guild_id: int, user_id: int, name: str) -> bool:
        return (
            await self._update(
                "DELETE FROM option_sets WHERE guild_id = ? AND user_id = ? AND name = ?",
                (guild_id, user_id, name),
            )
            > 0
        )

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

    async def _fetch_one(
        self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = ()
    ) -> aiosqlite.Row | None:
        # execute_fetchall runs and finishes the statement in one step on the connection's
        # thread. A cursor left open across an await would hold a read snapshot that makes
        # another coroutine's BEGIN IMMEDIATE fail at once with "database is locked".
        return next(iter(await self._fetch_all(sql, parameters)), None)

    async def _fetch_all(
        self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        return list(await _translated(self._connection.execute_fetchall, sql, parameters))

    async def _update(self, sql: str, parameters: tuple[Any, ...] | dict[str, Any]) -> int:
        """Run one write statement, atomic on its own; returns how many rows it changed."""
        cursor = await _translated(self._connection.execute, sql, parameters)
        return cursor.rowcount


class SqliteFileInUse(StorageUnavailable):
    """Another bot process has the file open: SQLite serves one process."""


def _lock_file(path: Path) -> IO[bytes]:
    """Hold an exclusive lock beside the database for as long as the bot runs; the system
    drops it when the process ends, however it ends."""
    lock = open(f"{path}.lock", "wb")  # noqa: SIM115  # held open until close()
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise SqliteFileInUse(
            f"another bot process is already using {path}. SQLite serves one process: stop "
            "the other one, or run several on PostgreSQL (DATABASE_URL=postgresql://...)."
        ) from None
    return lock


async def _translated(
    call: Callable[..., Awaitable[_Result]], *arguments: Any, **keywords: Any
) -> _Result:
    """The driver's failures as the port's: the core knows no sqlite3."""
    try:
        return await call(*arguments, **keywords)
    except sqlite3.Error as error:
        raise StorageUnavailable(f"SQLite: {error}") from error


def _in_scope(scope: ShardScope) -> str:
    """`scope` as a condition on a row's guild (shard ids are integers, rendered as such)."""
    if scope.shard_ids is None:
        return "1 = 1"
    shards = ", ".join(str(int(shard)) for shard in sorted(scope.shard_ids))
    return f"((COALESCE(guild_id, 0) >> 22) % {int(scope.shard_count)}) IN ({shards})"


# What admission counts: the member's jobs today, their last job, their jobs in progress, and
# the server's spending today and this month.
_USAGE = f"""
SELECT
  (SELECT COUNT(*) FROM jobs WHERE guild_id IS :guild AND user_id = :user
     AND created_at >= :day AND state != 'released'),
  (SELECT MAX(created_at) FROM jobs WHERE guild_id IS :guild AND user_id = :user
     AND state != 'released'),
  (SELECT COUNT(*) FROM jobs WHERE guild_id IS :guild AND user_id = :user
     AND state IN {_OPEN} AND lease_expires_at > :now),
  (SELECT {_CHARGED} FROM jobs WHERE guild_id IS :guild AND created_at >= :day),
  (SELECT {_CHARGED} FROM jobs WHERE guild_id IS :guild AND created_at >= :month)
"""

_INSERT_JOB = """
INSERT INTO jobs (user_id, guild_id, channel_id, state, prompt, size, output_format, seed,
                  strength, reference_url, style_name, reserved_cents, created_at, reply_kind,
                  reply_message_id, reply_token, reply_token_expires_at, lease_owner,
                  lease_expires_at, batch_id)
VALUES (?, ?, ?, 'reserved', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING *
"""


_JOIN_OWN_BATCH = "UPDATE jobs SET batch_id = id WHERE id = ? RETURNING *"


# A member's favourite prompts and those of their last :recent jobs (the scan bounded by the
# index on guild, user and time), filtered, de-duplicated, favourites first.
_PROMPT_HISTORY = """
WITH offered (prompt, favourite, used_at) AS (
  SELECT jobs.prompt, 1, favourites.created_at FROM favourites
    JOIN jobs ON jobs.id = favourites.job_id
   WHERE favourites.guild_id = :guild AND favourites.user_id = :user
  UNION ALL
  SELECT * FROM (SELECT prompt, 0, created_at FROM jobs
   WHERE guild_id = :guild AND user_id = :user ORDER BY created_at DESC LIMIT :recent)
)
SELECT prompt, MAX(favourite) AS favourite, MAX(used_at) AS last_used FROM offered
 WHERE length(prompt) <= :longest AND instr(unicode_lower(prompt), :typed) > 0
 GROUP BY prompt ORDER BY favourite DESC, last_used DESC LIMIT :limit
"""


def _style_from_row(row: aiosqlite.Row) -> Style:
    return Style(row["guild_id"], row["name"], row["template"], row["default_size"])


def _job_from_row(row: aiosqlite.Row | sqlite3.Row) -> Job:
    request = GenerationRequest.model_construct(
        prompt=row["prompt"],
        size=row["size"],
        output_format=row["output_format"],
        seed=row["seed"],
        strength=row["strength"] if row["strength"] is not None else 0.6,
        image=row["reference_url"],
        style_name=row["style_name"],
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
        reply=ReplyPlace(
            ReplyKind(row["reply_kind"]),
            row["reply_message_id"],
            row["reply_token"],
            row["reply_token_expires_at"],
        ),
        delivered_at=row["delivered_at"],
        lease=Lease(row["lease_owner"], row["lease_expires_at"] or 0.0)
        if row["lease_owner"]
        else None,
        batch_id=row["batch_id"],
        result_message=MessageRef(row["result_channel_id"], row["result_message_id"])
        if row["result_message_id"] is not None
        else None,
    )

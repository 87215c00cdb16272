"""The PostgreSQL adapter: every SQL statement the bot runs on PostgreSQL lives in this module.

Several processes may share one database (one per group of shards), so nothing here relies on
being alone:

- Admitting a job (check every limit, then record it) is one READ COMMITTED transaction that
  first takes a transaction-level advisory lock keyed on the server, in a statement of its own,
  and only then reads the usage and inserts. Admissions for one server queue on that lock, and
  each reads in a statement that starts after the lock was granted, so it sees every job the
  previous holder committed: none can overshoot a limit, whichever process it runs in.
- Migrations run under a session-level advisory lock: processes that start together apply
  each one once, in order, each in its own transaction, recorded in `schema_migrations`.
- Claims lock the rows they take with FOR UPDATE SKIP LOCKED: claimers racing over orphaned
  jobs each take different ones.
- A change to a server's configuration is announced on the `guild_config` channel (NOTIFY, in
  the writing transaction, so sent only once it is committed), for other processes' caches.

Times are Unix seconds as double precision, as on SQLite. Every failure of the driver or the
pool (timeouts included) is raised as StorageUnavailable.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Self

import psycopg
from psycopg.abc import Params
from psycopg.rows import TupleRow, dict_row
from psycopg_pool import AsyncConnectionPool

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

log = logging.getLogger(__name__)

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
# How long opening may take before an unreachable server fails the start.
OPEN_TIMEOUT_SECONDS = 5.0
# How long a query may wait for a free connection from the pool.
ACQUIRE_TIMEOUT_SECONDS = 10.0
# Reconnection delays for a listener whose connection dropped: doubling, up to the maximum.
LISTEN_RETRY_SECONDS = (1.0, 30.0)
# The NOTIFY channel that carries the id of a server whose configuration changed.
GUILD_CONFIG_CHANNEL = "guild_config"

# Advisory lock keys. Admission locks one bigint key per server: its guild id (a snowflake,
# never negative), or for every direct message the same negative key, since admission counts
# all direct messages' spending together. Migration locks a key in the two-int key space,
# which PostgreSQL keeps apart from the bigint one.
DIRECT_MESSAGES_LOCK_KEY = -1
MIGRATION_LOCK_KEY = (0x696D6167, 1)
IDENTIFY_LOCK_KEY = (0x696D6167, 2)

# What a job counts as spent: the API's figure, else (unknown) what was reserved for it.
_CHARGED = "COALESCE(SUM(COALESCE(cost_cents, reserved_cents)), 0)::bigint"
_OPEN = "('reserved', 'submitting', 'submitted')"
_MIGRATION_NAME = re.compile(r"^(\d{4})_\w+\.sql$")


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files(__package__) / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


class PostgresStorage:
    one_process_only = False

    # Serialises the admissions that read the same usage (see reserve_jobs); its one parameter
    # is the server's lock key.
    ADMISSION_LOCK = "SELECT pg_advisory_xact_lock(%s::bigint)"

    identify_spacing = 5.0  # seconds between gateway sessions starting, cluster-wide

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]],
        conninfo: str,
        clock: Callable[[], float],
    ) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._clock = clock
        self._listeners: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        max_connections: int = POOL_MAX_SIZE,
        open_timeout: float = OPEN_TIMEOUT_SECONDS,
    ) -> Self:
        """Connect to the database `url` names and bring its schema up to date. A server that
        cannot be reached within `open_timeout` seconds raises StorageUnavailable."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] = AsyncConnectionPool(
            url,
            min_size=POOL_MIN_SIZE,
            max_size=max(POOL_MIN_SIZE, max_connections),
            open=False,
            timeout=ACQUIRE_TIMEOUT_SECONDS,
            kwargs={"autocommit": True},
            # A connection the server dropped (a restart) is replaced before it is handed out.
            check=AsyncConnectionPool.check_connection,
        )
        try:
            await pool.open(wait=True, timeout=open_timeout)
        except psycopg.Error as error:
            await pool.close()
            reason = await _why_unreachable(url, open_timeout) or str(error)
            raise StorageUnavailable(f"PostgreSQL: cannot connect: {reason}") from error
        database = cls(pool, url, clock)
        try:
            await database.migrate()
        except BaseException:
            await database.close()
            raise
        return database

    async def close(self) -> None:
        listeners, self._listeners = self._listeners, set()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        await self._pool.close()

    async def schema_version(self) -> int:
        async with self._connection() as connection:
            return await _schema_version(connection)

    async def migrate(self) -> int:
        """Apply every numbered migration not yet recorded, in order, each in a transaction of
        its own. Holds a session-level advisory lock throughout: of several processes starting
        at once, one migrates while the others wait, then find nothing left to do."""
        async with self._connection() as connection:
            await connection.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK_KEY)
            try:
                await connection.execute(_SCHEMA_MIGRATIONS)
                cursor = await connection.execute("SELECT version FROM schema_migrations")
                applied = {row[0] for row in await cursor.fetchall()}
                for number, script in _migrations():
                    if number in applied:
                        continue
                    async with connection.transaction():
                        await connection.execute(script)
                        await connection.execute(
                            "INSERT INTO schema_migrations (version, applied_at)"
                            " VALUES (%s, now())",
                            (number,),
                        )
                return await _schema_version(connection)
            finally:
                await connection.execute("SELECT pg_advisory_unlock(%s, %s)", MIGRATION_LOCK_KEY)

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

        One transaction: lock the server's admissions, read its usage (counted from the Unix
        times `counted_since`: the start of the day and of the month), let `admit` refuse by
        raising (which rolls back), else insert. The lock is taken in a statement of its own:
        under READ COMMITTED each statement reads what was committed when it began, so the
        usage read, begun after the lock was granted, counts the previous holder's job. (A
        statement that locked and read at once would read from before its wait.)
        """
        guild_id = requester.guild_id
        lock_key = DIRECT_MESSAGES_LOCK_KEY if guild_id is None else guild_id
        now = self._clock()
        async with self._connection() as connection, connection.transaction():
            await connection.execute(self.ADMISSION_LOCK, (lock_key,))
            cursor = await connection.execute(
                _USAGE_IN_DIRECT_MESSAGES if guild_id is None else _USAGE_IN_SERVER,
                {
                    "guild": guild_id,
                    "user": requester.user_id,
                    "day": counted_since[0],
                    "month": counted_since[1],
                    "now": now,
                },
            )
            usage = await cursor.fetchone()
            assert usage is not None
            admit(Usage(*usage))
            inserted = connection.cursor(row_factory=dict_row)
            rows = []
            batch_id = None
            for index, request in enumerate(requests):
                parameters = job_parameters(requester, request, reserved_cents, now, reply, lease)
                await inserted.execute(_INSERT_JOB, (*parameters, batch_id))
                row = await inserted.fetchone()
                assert row is not None
                if index == 0 and len(requests) > 1:
                    batch_id = row["id"]
                    await inserted.execute(_JOIN_OWN_BATCH, (batch_id,))
                    row = await inserted.fetchone()
                    assert row is not None
                rows.append(row)
        return [_job_from_row(row) for row in rows]

    async def mark_submitting(self, job_id: int, owner: str) -> bool:
        """The submit is about to be sent: from here on the job may have been billed."""
        return (
            await self._update(
                "UPDATE jobs SET state = 'submitting'"
                " WHERE id = %s AND state = 'reserved' AND lease_owner = %s",
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
                "UPDATE jobs SET state = 'submitted', prediction_id = %s, cost_cents = %s,"
                " submitted_at = %s WHERE id = %s AND state = 'submitting' AND lease_owner = %s",
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
                "UPDATE jobs SET state = %s, error_code = %s, error = %s, finished_at = %s,"
                " cost_cents = CASE WHEN %s THEN 0 ELSE cost_cents END"
                f" WHERE id = %s AND lease_owner = %s AND state IN {_OPEN}",
                (
                    state.value,
                    error_code,
                    error,
                    self._clock(),
                    state is JobState.RELEASED,
                    job_id,
                    owner,
                ),
            )
            > 0
        )

    async def jobs_in_batch(self, batch_id: int) -> list[Job]:
        return await self._jobs("SELECT * FROM jobs WHERE batch_id = %s ORDER BY id", (batch_id,))

    async def get_job(self, job_id: int) -> Job | None:
        jobs = await self._jobs("SELECT * FROM jobs WHERE id = %s", (job_id,))
        return jobs[0] if jobs else None

    async def jobs_in_flight(self) -> list[Job]:
        """Jobs not yet ended, oldest first."""
        return await self._jobs(f"SELECT * FROM jobs WHERE state IN {_OPEN} ORDER BY id")

    async def undelivered_jobs(self, *, since: float) -> list[Job]:
        """Jobs created since `since` whose requester has not yet seen how they ended."""
        return await self._jobs(
            "SELECT * FROM jobs WHERE delivered_at IS NULL AND created_at >= %s ORDER BY id",
            (since,),
        )

    async def renew_leases(
        self, owner: str, job_ids: Collection[int], expires_at: float
    ) -> set[int]:
        """Extend this owner's leases; returns the ids it still holds."""
        if not job_ids:
            return set()
        rows = await self._rows(
            "UPDATE jobs SET lease_expires_at = %s WHERE lease_owner = %s"
            " AND id = ANY(%s::bigint[]) AND delivered_at IS NULL RETURNING id",
            (expires_at, owner, list(job_ids)),
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
        (their process died), oldest first. The rows are locked as they are picked, skipping
        any another claimer holds, and a row another claimer took meanwhile is re-checked
        against its new lease: two claimers cannot both win a job. The pick is an ARRAY(...)
        so that it runs once, whatever plan the update gets."""
        condition, scope_parameters = _in_scope(scope)
        jobs = await self._jobs(
            "UPDATE jobs SET lease_owner = %(owner)s, lease_expires_at = %(expires_at)s"
            " WHERE id = ANY(ARRAY("
            " SELECT id FROM jobs WHERE delivered_at IS NULL"
            " AND COALESCE(lease_expires_at, 0) < %(expired_before)s"
            f" AND {condition} ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
            ")) RETURNING *",
            {
                "owner": owner,
                "expires_at": expires_at,
                "expired_before": float(expired_before),
                "limit": limit,
                **scope_parameters,
            },
        )
        return sorted(jobs, key=lambda job: job.id)

    async def set_reply(self, job_id: int, reply: ReplyPlace) -> None:
        """Remember where a job's reply is shown, once that is known."""
        await self._update(
            "UPDATE jobs SET reply_kind = %s, reply_message_id = %s, reply_token = %s,"
            " reply_token_expires_at = %s WHERE id = %s",
            (reply.kind.value, reply.message_id, reply.token, reply.token_expires_at, job_id),
        )

    async def mark_delivered(
        self, job_id: int, owner: str, *, result: MessageRef | None = None
    ) -> None:
        """The requester has seen the outcome: the token and the lease are no longer needed;
        `result` is the message showing the image, if there is one."""
        await self._update(
            "UPDATE jobs SET delivered_at = %s, reply_token = NULL, lease_expires_at = NULL,"
            " result_channel_id = COALESCE(%s, result_channel_id),"
            " result_message_id = COALESCE(%s, result_message_id)"
            " WHERE id = %s AND lease_owner = %s",
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
        rows = await self._rows(f"SELECT {_CHARGED} FROM jobs")
        return int(rows[0][0])

    # --- usage reports ----------------------------------------------------------------------

    async def tally(
        self, guild_id: int | None, *, user_id: int | None = None, since: float = 0.0
    ) -> Tally:
        """A server's (or one member's) images, generations and spending since `since`."""
        member = "" if user_id is None else " AND user_id = %(user)s"
        rows = await self._rows(
            f"""
            SELECT COUNT(*) FILTER (WHERE state = 'completed'),
                   COUNT(*) FILTER (WHERE state != 'released'),
                   {_CHARGED}
            FROM jobs
            WHERE {_same_guild(guild_id)}{member} AND created_at >= %(since)s
            """,
            {"guild": guild_id, "user": user_id, "since": since},
        )
        return Tally(*rows[0])

    async def last_job_at(self, guild_id: int | None, user_id: int) -> float | None:
        rows = await self._rows(
            "SELECT MAX(created_at) FROM jobs"
            f" WHERE {_same_guild(guild_id)} AND user_id = %(user)s AND state != 'released'",
            {"guild": guild_id, "user": user_id},
        )
        return rows[0][0] if rows else None

    async def top_members(
        self, guild_id: int, *, since: float, limit: int = 10
    ) -> list[MemberTotal]:
        """The members who spent the most since `since`, biggest first."""
        rows = await self._rows(
            f"""
            SELECT user_id,
                   COUNT(*) FILTER (WHERE state = 'completed'),
                   COUNT(*) FILTER (WHERE state != 'released'),
                   {_CHARGED} AS cents
            FROM jobs WHERE guild_id = %s AND created_at >= %s
            GROUP BY user_id ORDER BY cents DESC, user_id LIMIT %s
            """,
            (guild_id, since, limit),
        )
        return [MemberTotal(row[0], Tally(row[1], row[2], row[3])) for row in rows]

    async def job_times(self, guild_id: int, *, since: float) -> list[tuple[float, bool, int]]:
        """(created_at, completed, charged cents) of a server's jobs since `since`, for charts."""
        rows = await self._rows(
            "SELECT created_at, state = 'completed', COALESCE(cost_cents, reserved_cents)"
            " FROM jobs WHERE guild_id = %s AND created_at >= %s AND state != 'released'",
            (guild_id, since),
        )
        return [(row[0], bool(row[1]), row[2]) for row in rows]

    # --- history: prompts, favourites, the gallery -------------------------------------------

    async def prompt_history(
        self, guild_id: int, user_id: int, *, containing: str, recent: int, longest: int, limit: int
    ) -> list[PromptChoice]:
        """The member's favourite, then recent, prompts holding `containing`, de-duplicated."""
        rows = await self._rows(
            _PROMPT_HISTORY,
            {
                "guild": guild_id,
                "user": user_id,
                "typed": containing,
                "recent": recent,
                "longest": longest,
                "limit": limit,
            },
        )
        return [PromptChoice(row[0], bool(row[1])) for row in rows]

    async def toggle_favourite(self, user_id: int, job_id: int) -> bool:
        """Remove the favourite if it was one, else add it (for a job that exists)."""
        removed = await self._update(
            "DELETE FROM favourites WHERE user_id = %s AND job_id = %s", (user_id, job_id)
        )
        if removed:
            return False
        added = await self._update(
            "INSERT INTO favourites (user_id, job_id, guild_id, created_at)"
            " SELECT %s, id, guild_id, %s FROM jobs WHERE id = %s ON CONFLICT DO NOTHING",
            (user_id, self._clock(), job_id),
        )
        return added > 0

    async def forget_result_messages(self, message_ids: Collection[int]) -> int:
        """Deleted messages no longer show their results."""
        if not message_ids:
            return 0
        return await self._update(
            "UPDATE jobs SET result_channel_id = NULL, result_message_id = NULL"
            " WHERE result_message_id = ANY(%s::bigint[])",
            (list(message_ids),),
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
        member = "" if user_id is None else " AND user_id = %(user)s"
        if channel_ids is not None:
            member += " AND result_channel_id = ANY(%(channels)s::bigint[])"
        rows = await self._rows(
            "SELECT id, user_id, prompt, created_at, result_channel_id, result_message_id"
            " FROM jobs WHERE guild_id = %(guild)s"
            f"{member} AND result_message_id IS NOT NULL AND state = 'completed'"
            " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
            {
                "guild": guild_id,
                "user": user_id,
                "channels": list(channel_ids or ()),
                "limit": limit,
                "offset": offset,
            },
        )
        return [
            GalleryEntry(row[0], row[1], row[2], row[3], MessageRef(row[4], row[5])) for row in rows
        ]

    # --- per-server settings ----------------------------------------------------------------

    async def load_guild_config(self, guild_id: int) -> GuildConfig:
        async with self._connection() as connection:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute("SELECT * FROM guild_settings WHERE guild_id = %s", (guild_id,))
            row = await cursor.fetchone()
            channels = await connection.execute(
                "SELECT channel_id FROM guild_channels WHERE guild_id = %s", (guild_id,)
            )
            channel_ids = frozenset(row[0] for row in await channels.fetchall())
            terms = await connection.execute(
                "SELECT term FROM blocked_terms WHERE guild_id = %s ORDER BY term", (guild_id,)
            )
            blocked_terms = tuple(row[0] for row in await terms.fetchall())
        settings = GuildSettings(guild_id)
        if row is not None:
            fields = dict(row)
            del fields["updated_at"]
            settings = GuildSettings(**fields)
        return GuildConfig(settings, channel_ids, blocked_terms)

    async def update_guild_settings(self, guild_id: int, changes: Mapping[str, object]) -> None:
        """Set some of a server's settings; a None value returns that one to the default."""
        unknown = set(changes) - GUILD_SETTING_FIELDS
        if unknown:
            raise ValueError(f"unknown guild settings: {sorted(unknown)}")
        if changes:
            # Column names come from GUILD_SETTING_FIELDS only; values are bound parameters.
            columns = ", ".join(changes)
            placeholders = ", ".join(f"%({name})s" for name in changes)
            updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in changes)
            await self._write_guild_config(
                guild_id,
                f"INSERT INTO guild_settings (guild_id, {columns}, updated_at)"
                f" VALUES (%(guild_id)s, {placeholders}, %(now)s)"
                f" ON CONFLICT (guild_id) DO UPDATE SET {updates},"
                " updated_at = EXCLUDED.updated_at",
                {**changes, "guild_id": guild_id, "now": self._clock()},
            )

    async def set_channel_allowed(self, guild_id: int, channel_id: int, allowed: bool) -> bool:
        """Add or remove a channel from the server's list; False when nothing changed."""
        sql = (
            "INSERT INTO guild_channels (guild_id, channel_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING"
            if allowed
            else "DELETE FROM guild_channels WHERE guild_id = %s AND channel_id = %s"
        )
        return await self._write_guild_config(guild_id, sql, (guild_id, channel_id)) > 0

    async def set_term_blocked(self, guild_id: int, term: str, blocked: bool) -> bool:
        """Add or remove a blocked term (stored lower-case); False when nothing changed."""
        sql = (
            "INSERT INTO blocked_terms (guild_id, term) VALUES (%s, %s) ON CONFLICT DO NOTHING"
            if blocked
            else "DELETE FROM blocked_terms WHERE guild_id = %s AND term = %s"
        )
        return await self._write_guild_config(guild_id, sql, (guild_id, term.lower())) > 0

    async def listen_guild_changes(self, callback: Callable[[int], None]) -> None:
        """Call `callback(guild_id)` each time any process changes a server's configuration,
        until close(). Listening has begun when this returns. The listener reconnects by itself
        if its connection drops; changes made while it is down are not reported."""
        connection = await self._listening_connection()
        task = asyncio.create_task(
            self._listen(connection, callback), name=f"listen-{GUILD_CONFIG_CHANNEL}"
        )
        self._listeners.add(task)
        task.add_done_callback(self._listeners.discard)

    # --- styles and preferences -------------------------------------------------------------

    async def list_styles(self, guild_id: int) -> list[Style]:
        rows = await self._rows(
            f"SELECT {_STYLE_COLUMNS} FROM styles WHERE guild_id = %s ORDER BY name_key",
            (guild_id,),
        )
        return [Style(*row) for row in rows]

    async def get_style(self, guild_id: int, name: str) -> Style | None:
        rows = await self._rows(
            f"SELECT {_STYLE_COLUMNS} FROM styles WHERE guild_id = %s AND name_key = %s",
            (guild_id, style_key(name)),
        )
        return Style(*rows[0]) if rows else None

    async def create_style(self, style: Style) -> bool:
        return (
            await self._update(
                "INSERT INTO styles (guild_id, name_key, name, template, default_size, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
                "UPDATE styles SET template = %s, default_size = %s, updated_at = %s"
                " WHERE guild_id = %s AND name_key = %s",
                (style.template, style.default_size, self._clock(), style.guild_id, style.key),
            )
            > 0
        )

    async def delete_style(self, guild_id: int, name: str) -> bool:
        """Channel defaults naming it go with it (ON DELETE CASCADE)."""
        return (
            await self._update(
                "DELETE FROM styles WHERE guild_id = %s AND name_key = %s",
                (guild_id, style_key(name)),
            )
            > 0
        )

    async def set_channel_style(self, guild_id: int, channel_id: int, name: str | None) -> None:
        if name is None:
            await self._update(
                "DELETE FROM channel_styles WHERE guild_id = %s AND channel_id = %s",
                (guild_id, channel_id),
            )
            return
        await self._update(
            "INSERT INTO channel_styles (guild_id, channel_id, name_key) VALUES (%s, %s, %s)"
            " ON CONFLICT (guild_id, channel_id) DO UPDATE SET name_key = EXCLUDED.name_key",
            (guild_id, channel_id, style_key(name)),
        )

    async def channel_style(self, guild_id: int, channel_id: int) -> Style | None:
        columns = ", ".join(f"styles.{column}" for column in _STYLE_COLUMNS.split(", "))
        rows = await self._rows(
            f"SELECT {columns} FROM channel_styles JOIN styles USING (guild_id, name_key)"
            " WHERE channel_styles.guild_id = %s AND channel_styles.channel_id = %s",
            (guild_id, channel_id),
        )
        return Style(*rows[0]) if rows else None

    async def channel_styles(self, guild_id: int) -> dict[int, str]:
        rows = await self._rows(
            "SELECT channel_id, styles.name FROM channel_styles JOIN styles"
            " USING (guild_id, name_key) WHERE channel_styles.guild_id = %s",
            (guild_id,),
        )
        return {row[0]: row[1] for row in rows}

    async def load_preferences(self, guild_id: int, user_id: int) -> MemberPreferences:
        async with self._connection() as connection:
            cursor = await connection.execute(
                "SELECT size, output_format, count, suffix FROM member_preferences"
                " WHERE guild_id = %s AND user_id = %s",
                (guild_id, user_id),
            )
            row = await cursor.fetchone()
            cursor = await connection.execute(
                "SELECT name, value FROM option_sets WHERE guild_id = %s AND user_id = %s"
                " ORDER BY name",
                (guild_id, user_id),
            )
            option_sets = {name: value for name, value in await cursor.fetchall()}
        size, output_format, count, suffix = row or (None, None, None, None)
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
            placeholders = ", ".join(f"%({name})s" for name in changes)
            updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in changes)
            await self._update(
                f"INSERT INTO member_preferences (guild_id, user_id, {columns}, updated_at)"
                f" VALUES (%(guild_id)s, %(user_id)s, {placeholders}, %(now)s)"
                f" ON CONFLICT (guild_id, user_id) DO UPDATE SET {updates},"
                " updated_at = EXCLUDED.updated_at",
                {**changes, "guild_id": guild_id, "user_id": user_id, "now": self._clock()},
            )

    async def clear_preferences(self, guild_id: int, user_id: int) -> bool:
        removed = 0
        async with self._connection() as connection, connection.transaction():
            for table in ("member_preferences", "option_sets"):
                cursor = await connection.execute(
                    f"DELETE FROM {table} WHERE guild_id = %s AND user_id = %s",
                    (guild_id, user_id),
                )
                removed += cursor.rowcount
        return removed > 0

    async def set_option_set(self, guild_id: int, user_id: int, name: str, value: str) -> None:
        await self._update(
            "INSERT INTO option_sets (guild_id, user_id, name, value) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (guild_id, user_id, name) DO UPDATE SET value = EXCLUDED.value",
            (guild_id, user_id, name, value),
        )

    async def delete_option_set(self, guild_id: int, user_id: int, name: str) -> bool:
        return (
            await self._update(
                "DELETE FROM option_sets WHERE guild_id = %s AND user_id = %s AND name = %s",
                (guild_id, user_id, name),
            )
            > 0
        )

    # --- the bot's own state ----------------------------------------------------------------

    async def take_identify_turn(self) -> None:
        """Hold a cluster-wide advisory lock from this session's start until `identify_spacing`
        after it: the next process's session waits for it. A process that dies holding it
        loses it with its connection."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        holder = asyncio.create_task(self._hold_identify_lock(turn))
        self._listeners.add(holder)
        holder.add_done_callback(self._listeners.discard)
        await turn

    async def _hold_identify_lock(self, turn: asyncio.Future[None]) -> None:
        try:
            async with self._connection() as connection:
                await connection.execute("SELECT pg_advisory_lock(%s, %s)", IDENTIFY_LOCK_KEY)
                turn.set_result(None)
                try:
                    await asyncio.sleep(self.identify_spacing)
                finally:
                    await connection.execute("SELECT pg_advisory_unlock(%s, %s)", IDENTIFY_LOCK_KEY)
        except Exception as error:
            if not turn.done():
                turn.set_exception(error)

    async def get_state(self, key: str) -> str | None:
        rows = await self._rows("SELECT value FROM bot_state WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    async def set_state(self, key: str, value: str) -> None:
        await self._update(
            "INSERT INTO bot_state (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    # --- connections ------------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[TupleRow]]:
        """A connection from the pool, in autocommit mode; the driver's failures (and the
        pool's) come out as the port's: the core knows no psycopg."""
        try:
            async with self._pool.connection() as connection:
                yield connection
        except psycopg.Error as error:
            raise StorageUnavailable(f"PostgreSQL: {error}") from error

    async def _rows(self, sql: str, parameters: Params | None = None) -> list[TupleRow]:
        async with self._connection() as connection:
            cursor = await connection.execute(sql, parameters)
            return await cursor.fetchall()

    async def _jobs(self, sql: str, parameters: Params | None = None) -> list[Job]:
        async with self._connection() as connection:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(sql, parameters)
            return [_job_from_row(row) for row in await cursor.fetchall()]

    async def _update(self, sql: str, parameters: Params) -> int:
        """Run one write statement, atomic on its own; returns how many rows it changed."""
        async with self._connection() as connection:
            cursor = await connection.execute(sql, parameters)
            return cursor.rowcount

    async def _write_guild_config(self, guild_id: int, sql: str, parameters: Params) -> int:
        """Run one write to a server's configuration and, if it changed anything, announce the
        server on GUILD_CONFIG_CHANNEL in the same transaction (sent when it commits)."""
        async with self._connection() as connection, connection.transaction():
            cursor = await connection.execute(sql, parameters)
            changed = cursor.rowcount
            if changed > 0:
                await connection.execute(
                    "SELECT pg_notify(%s, %s::text)", (GUILD_CONFIG_CHANNEL, str(guild_id))
                )
        return changed

    async def _listening_connection(self) -> psycopg.AsyncConnection[TupleRow]:
        """A connection of its own (not the pool's) that listens on GUILD_CONFIG_CHANNEL."""
        try:
            connection = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=max(1, round(OPEN_TIMEOUT_SECONDS)),
            )
        except psycopg.Error as error:
            raise StorageUnavailable(f"PostgreSQL: cannot listen: {error}") from error
        try:
            await connection.execute(f"LISTEN {GUILD_CONFIG_CHANNEL}")
        except psycopg.Error as error:
            await connection.close()
            raise StorageUnavailable(f"PostgreSQL: cannot listen: {error}") from error
        return connection

    async def _listen(
        self, connection: psycopg.AsyncConnection[TupleRow], callback: Callable[[int], None]
    ) -> None:
        """Hand each notification to `callback`; when the connection drops, reconnect with a
        growing delay. Runs until cancelled (by close())."""
        shortest, longest = LISTEN_RETRY_SECONDS
        try:
            while True:
                try:
                    async for notification in connection.notifies():
                        _deliver(callback, notification.payload)
                except psycopg.Error as error:
                    log.warning("listening on %s failed: %s", GUILD_CONFIG_CHANNEL, error)
                await connection.close()
                delay = shortest
                while True:
                    await asyncio.sleep(delay)
                    try:
                        connection = await self._listening_connection()
                        break
                    except StorageUnavailable as error:
                        log.warning("%s; retrying in %.0fs", error, delay)
                        delay = min(delay * 2, longest)
                log.info("listening on %s again", GUILD_CONFIG_CHANNEL)
        finally:
            await connection.close()


async def _schema_version(connection: psycopg.AsyncConnection[TupleRow]) -> int:
    cursor = await connection.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    exists = await cursor.fetchone()
    if not exists or not exists[0]:
        return 0
    cursor = await connection.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _why_unreachable(url: str, seconds: float) -> str | None:
    """What one direct connection attempt says is wrong (the pool only says it timed out)."""
    try:
        async with asyncio.timeout(seconds):
            connection = await psycopg.AsyncConnection.connect(url)
    except (psycopg.Error, TimeoutError) as error:
        return str(error).strip() or type(error).__name__
    await connection.close()
    return None


def _deliver(callback: Callable[[int], None], payload: str) -> None:
    try:
        guild_id = int(payload)
    except ValueError:
        log.warning("ignoring a %s notification with payload %r", GUILD_CONFIG_CHANNEL, payload)
        return
    try:
        callback(guild_id)
    except Exception:
        log.exception("the %s callback failed for server %s", GUILD_CONFIG_CHANNEL, guild_id)


def _same_guild(guild_id: int | None) -> str:
    """A condition on a row's server: `%(guild)s`'s, or direct messages' (NULL). Chosen here
    rather than with IS NOT DISTINCT FROM, which no index can answer."""
    return "guild_id IS NULL" if guild_id is None else "guild_id = %(guild)s"


def _in_scope(scope: ShardScope) -> tuple[str, dict[str, Any]]:
    """`scope` as a condition on a row's guild, with its parameters."""
    if scope.shard_ids is None:
        return "TRUE", {}
    return (
        "((COALESCE(guild_id, 0) >> 22) %% %(shard_count)s::bigint) = ANY(%(shard_ids)s::bigint[])",
        {"shard_count": scope.shard_count, "shard_ids": sorted(scope.shard_ids)},
    )


# A style's columns in the order Style takes them.
_STYLE_COLUMNS = "guild_id, name, template, default_size"

_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def _usage(guild_id: int | None) -> str:
    """What admission counts: the member's jobs today, their last job, their jobs in progress,
    and the server's spending today and this month."""
    same = _same_guild(guild_id)
    return f"""
SELECT
  (SELECT COUNT(*) FROM jobs WHERE {same} AND user_id = %(user)s
     AND created_at >= %(day)s AND state != 'released'),
  (SELECT MAX(created_at) FROM jobs WHERE {same} AND user_id = %(user)s
     AND state != 'released'),
  (SELECT COUNT(*) FROM jobs WHERE {same} AND user_id = %(user)s
     AND state IN {_OPEN} AND lease_expires_at > %(now)s),
  (SELECT {_CHARGED} FROM jobs WHERE {same} AND created_at >= %(day)s),
  (SELECT {_CHARGED} FROM jobs WHERE {same} AND created_at >= %(month)s)
"""


_USAGE_IN_SERVER = _usage(0)
_USAGE_IN_DIRECT_MESSAGES = _usage(None)

_INSERT_JOB = """
INSERT INTO jobs (user_id, guild_id, channel_id, state, prompt, size, output_format, seed,
                  strength, reference_url, style_name, reserved_cents, created_at, reply_kind,
                  reply_message_id, reply_token, reply_token_expires_at, lease_owner,
                  lease_expires_at, batch_id)
VALUES (%s, %s, %s, 'reserved', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING *
"""


_JOIN_OWN_BATCH = "UPDATE jobs SET batch_id = id WHERE id = %s RETURNING *"


# A member's favourite prompts and those of their last %(recent)s jobs (the scan bounded by the
# index on guild, user and time), filtered, de-duplicated, favourites first.
_PROMPT_HISTORY = """
WITH offered (prompt, favourite, used_at) AS (
  SELECT jobs.prompt, 1, favourites.created_at FROM favourites
    JOIN jobs ON jobs.id = favourites.job_id
   WHERE favourites.guild_id = %(guild)s AND favourites.user_id = %(user)s
  UNION ALL
  (SELECT prompt, 0, created_at FROM jobs
    WHERE guild_id = %(guild)s AND user_id = %(user)s ORDER BY created_at DESC LIMIT %(recent)s)
)
SELECT prompt, MAX(favourite) AS favourite, MAX(used_at) AS last_used FROM offered
 WHERE char_length(prompt) <= %(longest)s AND strpos(lower(prompt), lower(%(typed)s)) > 0
 GROUP BY prompt ORDER BY favourite DESC, last_used DESC LIMIT %(limit)s
"""


def _job_from_row(row: Mapping[str, Any]) -> Job:
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

"""What only the PostgreSQL adapter does, or must show it does across processes: each adapter
instance here stands for a process of its own, with its own pool of connections."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence

import psycopg
import pytest

from bot.core.limits import LimitReached, Usage
from bot.core.models import NO_REPLY, Lease, Requester
from bot.core.ports import Storage, StorageUnavailable
from bot.core.requests import GenerationRequest
from bot.storage import open_storage
from bot.storage.postgres import PostgresStorage
from bot.storage.postgres.adapter import MIGRATION_LOCK_KEY, _migrations

REQUEST = GenerationRequest(prompt="a red fox", seed=42)
LEASE = Lease("process-a", time.time() + 3600)
BUDGET = 50
REQUESTS_PER_ROUND = 200
ROUNDS = 10
PROCESSES = 4


class Heard:
    """A listener's callback that keeps the server ids it hears, and says when it has `count`."""

    def __init__(self, count: int) -> None:
        self.guild_ids: list[int] = []
        self.enough = asyncio.Event()
        self._count = count

    def __call__(self, guild_id: int) -> None:
        self.guild_ids.append(guild_id)
        if len(self.guild_ids) >= self._count:
            self.enough.set()


class WithoutAdmissionLock(PostgresStorage):
    """The adapter with its admission lock taken out: the control that shows the lock is what
    keeps admission exact."""

    ADMISSION_LOCK = "SELECT %s::bigint"


async def admission_rounds(
    storages: Sequence[Storage], *, rounds: int = ROUNDS, first_guild: int = 5000
) -> list[int]:
    """In each round, REQUESTS_PER_ROUND requests at once for one new server, spread over
    `storages`, against a budget of BUDGET cents at 1 cent each; returns the cents each round
    recorded, checking that each admitted request was recorded."""
    recorded = []
    for round_number in range(rounds):
        requester = Requester(user_id=1, guild_id=first_guild + round_number, channel_id=100)

        def within_budget(usage: Usage) -> None:
            if usage.guild_cents_today + 1 > BUDGET:
                raise LimitReached("budget spent")

        async def one(index: int, requester: Requester = requester) -> bool:
            try:
                await storages[index % len(storages)].reserve_jobs(
                    requester,
                    [REQUEST],
                    reserved_cents=1,
                    counted_since=(0.0, 0.0),
                    admit=within_budget,
                    reply=NO_REPLY,
                    lease=LEASE,
                )
            except LimitReached:
                return False
            return True

        admitted = await asyncio.gather(*(one(index) for index in range(REQUESTS_PER_ROUND)))
        cents = (await storages[0].tally(requester.guild_id)).cents
        assert cents == sum(admitted)
        recorded.append(cents)
    return recorded


async def test_admission_is_exact_in_every_round_across_processes(postgres_url: str) -> None:
    """Four processes, ten rounds of 200 requests at once against a 50-cent budget: exactly
    50 cents are recorded in every round."""
    storages = [await PostgresStorage.open(postgres_url) for _ in range(PROCESSES)]
    try:
        recorded = await admission_rounds(storages)
    finally:
        for storage in storages:
            await storage.close()
    print(f"with the admission lock, cents recorded per round: {recorded}")
    assert recorded == [BUDGET] * ROUNDS


async def test_without_the_admission_lock_the_budget_is_overspent(postgres_url: str) -> None:
    """The control: the same rounds with the lock taken out record more than the budget in
    at least one round, so the exactness above is the lock's doing."""
    storages = [await WithoutAdmissionLock.open(postgres_url) for _ in range(PROCESSES)]
    try:
        recorded = await admission_rounds(storages)
    finally:
        for storage in storages:
            await storage.close()
    print(f"without the admission lock, cents recorded per round: {recorded}")
    assert max(recorded) > BUDGET


async def test_direct_messages_share_one_budget_exactly(postgres_url: str) -> None:
    """Admission counts every direct message's spending together, so direct messages from
    different users are serialised too: 100 users at once against 20 cents admit 20."""
    storages = [await PostgresStorage.open(postgres_url) for _ in range(2)]
    budget = 20

    def within_budget(usage: Usage) -> None:
        if usage.guild_cents_today + 1 > budget:
            raise LimitReached("budget spent")

    async def one(user_id: int) -> bool:
        try:
            await storages[user_id % 2].reserve_jobs(
                Requester(user_id=user_id, guild_id=None, channel_id=100),
                [REQUEST],
                reserved_cents=1,
                counted_since=(0.0, 0.0),
                admit=within_budget,
                reply=NO_REPLY,
                lease=LEASE,
            )
        except LimitReached:
            return False
        return True

    try:
        admitted = await asyncio.gather(*(one(user_id) for user_id in range(100)))
        assert sum(admitted) == budget
        assert (await storages[0].tally(None)).cents == budget
    finally:
        for storage in storages:
            await storage.close()


async def test_migrations_run_once_when_processes_start_together(postgres_url: str) -> None:
    """Four processes opening a fresh database at once all start (a migration applied twice
    would fail: its CREATE TABLEs are not conditional) and each migration is recorded once."""
    storages = await asyncio.gather(*(open_storage(postgres_url) for _ in range(PROCESSES)))
    try:
        latest = max(number for number, _ in _migrations())
        assert [await storage.schema_version() for storage in storages] == [latest] * PROCESSES
        async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
            cursor = await connection.execute(
                "SELECT version, applied_at IS NOT NULL FROM schema_migrations ORDER BY version"
            )
            rows = await cursor.fetchall()
        assert rows == [(number, True) for number, _ in _migrations()]
    finally:
        for storage in storages:
            await storage.close()


async def test_migrating_waits_for_the_migration_lock(postgres_url: str) -> None:
    """While another session holds the migration lock, opening waits; once it is released,
    opening migrates."""
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as other:
        await other.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK_KEY)
        opening = asyncio.create_task(open_storage(postgres_url))
        await asyncio.sleep(0.5)
        assert not opening.done()
        await other.execute("SELECT pg_advisory_unlock(%s, %s)", MIGRATION_LOCK_KEY)
        storage = await asyncio.wait_for(opening, 10)
    try:
        assert await storage.schema_version() == max(number for number, _ in _migrations())
    finally:
        await storage.close()


async def test_processes_hear_each_others_configuration_changes(postgres_url: str) -> None:
    """Each process hears every server whose configuration any process changed, its own
    included, once committed; a change that changes nothing is not announced; closing lets
    go of every connection, the listener's included."""
    first, second = PostgresStorage.open(postgres_url), PostgresStorage.open(postgres_url)
    storages = list(await asyncio.gather(first, second))
    expected = [10, 11, 12, 14]
    heard = [Heard(len(expected)), Heard(len(expected))]
    for storage, listener in zip(storages, heard, strict=True):
        await storage.listen_guild_changes(listener)

    await storages[0].update_guild_settings(10, {"user_daily_images": 5})
    assert await storages[1].set_channel_allowed(11, 555, True)
    assert not await storages[1].set_channel_allowed(11, 555, True)  # no change, no news
    assert await storages[0].set_term_blocked(12, "wolf", True)
    await storages[0].update_guild_settings(13, {})  # nothing to write
    assert await storages[1].set_term_blocked(14, "wolf", True)

    async with asyncio.timeout(10):
        for listener in heard:
            await listener.enough.wait()
    await asyncio.sleep(0.2)  # time for anything unexpected to arrive too
    assert [listener.guild_ids for listener in heard] == [expected, expected]

    for storage in storages:
        await storage.close()
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as connection:
        # A closed connection's server process may take a moment to go.
        async with asyncio.timeout(10):
            while True:
                cursor = await connection.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid != pg_backend_pid()"
                )
                if await cursor.fetchone() == (0,):
                    break
                await asyncio.sleep(0.05)


async def test_a_failing_listener_callback_does_not_stop_the_listener(postgres_url: str) -> None:
    """A callback that raises is logged, and the next change is still delivered."""
    storage = await PostgresStorage.open(postgres_url)
    heard = Heard(2)

    def callback(guild_id: int) -> None:
        heard(guild_id)
        if guild_id == 1:
            raise RuntimeError("cache on fire")

    try:
        await storage.listen_guild_changes(callback)
        assert await storage.set_channel_allowed(1, 5, True)
        assert await storage.set_channel_allowed(2, 5, True)
        async with asyncio.timeout(10):
            await heard.enough.wait()
        assert heard.guild_ids == [1, 2]
    finally:
        await storage.close()


async def test_the_listener_reconnects_after_losing_its_connection(postgres_url: str) -> None:
    """When the server drops the listening connection, the listener connects again and goes
    on delivering."""
    storage = await PostgresStorage.open(postgres_url)
    heard = Heard(1)
    try:
        await storage.listen_guild_changes(heard)
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            cursor = await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
            assert await cursor.fetchall() == [(True,)]
            async with asyncio.timeout(10):
                while True:  # until it listens again; changes made before then go unheard
                    cursor = await admin.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                    )
                    if await cursor.fetchone() == (1,):
                        break
                    await asyncio.sleep(0.05)
        assert await storage.set_term_blocked(7, "wolf", True)
        async with asyncio.timeout(10):
            await heard.enough.wait()
        assert heard.guild_ids == [7]
    finally:
        await storage.close()


async def test_both_url_schemes_open_the_adapter(postgres_url: str) -> None:
    """postgres:// is libpq's other name for postgresql://."""
    assert postgres_url.startswith("postgresql://")
    for url in (postgres_url, "postgres://" + postgres_url.removeprefix("postgresql://")):
        storage = await open_storage(url)
        try:
            assert isinstance(storage, PostgresStorage) and not storage.one_process_only
        finally:
            await storage.close()


async def test_driver_errors_come_out_as_storage_unavailable(postgres_url: str) -> None:
    """Whatever goes wrong in the database reaches the core as StorageUnavailable."""
    storage = await PostgresStorage.open(postgres_url)
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            await admin.execute("DROP TABLE jobs CASCADE")
        with pytest.raises(StorageUnavailable, match="PostgreSQL"):
            await storage.get_job(1)
        with pytest.raises(StorageUnavailable):
            await storage.reserve_jobs(
                Requester(1, 10, 100),
                [REQUEST],
                reserved_cents=1,
                counted_since=(0.0, 0.0),
                admit=lambda usage: None,
                reply=NO_REPLY,
                lease=LEASE,
            )
        assert await storage.get_state("still") is None  # the rest still works
    finally:
        await storage.close()


async def test_an_unreachable_server_fails_fast() -> None:
    """Nothing listening: opening gives up within its timeout, saying why."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="cannot connect"):
        await PostgresStorage.open(f"postgresql://postgres@127.0.0.1:{port}/none", open_timeout=1)
    assert time.monotonic() - started < 5

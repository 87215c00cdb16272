"""What every storage adapter must do, whatever its engine: run against each of them."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.limits import LimitReached, Usage
from bot.core.models import (
    NO_REPLY,
    GuildSettings,
    JobState,
    ReplyKind,
    ReplyPlace,
    Requester,
)
from bot.core.ports import Storage
from bot.core.requests import GenerationRequest
from tests.storage.conftest import OpenStorage

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
BOB = Requester(user_id=2, guild_id=10, channel_id=100)
REQUEST = GenerationRequest(prompt="a red fox", seed=42)


def admit_all(usage: Usage) -> None:
    """An admission check with no limits."""


async def reserve(
    storage: Storage,
    requester: Requester = ALICE,
    *,
    cents: int = 1,
    reply: ReplyPlace = NO_REPLY,
) -> int:
    job = await storage.reserve_job(
        requester,
        REQUEST,
        reserved_cents=cents,
        counted_since=(0.0, 0.0),
        admit=admit_all,
        reply=reply,
    )
    return job.id


async def test_migrations_apply_once_and_are_recorded(open_adapter: OpenStorage) -> None:
    """Opening the same database again applies nothing the second time and keeps the data."""
    first = await open_adapter()
    version = await first.schema_version()
    job_id = await reserve(first)
    second = await open_adapter()
    assert version >= 1
    assert await second.schema_version() == version
    assert await second.migrate() == version
    assert await second.get_job(job_id) == await first.get_job(job_id)


async def test_job_life_cycle_keeps_the_cost(storage: Storage) -> None:
    """reserved -> submitted -> completed records the prediction id, the cost and timestamps."""
    job_id = await reserve(storage)
    job = await storage.get_job(job_id)
    assert job is not None and job.state is JobState.RESERVED and job.cost_cents is None
    await storage.mark_submitted(job_id, "pred-1", 3)
    await storage.settle(job_id, JobState.COMPLETED)
    settled = await storage.get_job(job_id)
    assert settled is not None
    assert settled.state is JobState.COMPLETED
    assert (settled.prediction_id, settled.cost_cents) == ("pred-1", 3)
    assert await storage.total_charged_cents() == 3
    assert settled.request == REQUEST
    assert settled.submitted_at is not None and settled.finished_at is not None


async def test_released_jobs_cost_nothing_and_unknown_costs_count_the_reservation(
    storage: Storage,
) -> None:
    """A job the API never took is free; one whose submit went unanswered counts as reserved."""
    never_sent = await reserve(storage, cents=2)
    await storage.settle(never_sent, JobState.RELEASED, error_code="OutOfCredit")
    unanswered = await reserve(storage, cents=2)
    await storage.settle(unanswered, JobState.FAILED, error_code="SubmitOutcomeUnknown")
    assert await storage.total_charged_cents() == 2
    assert await storage.jobs_in_flight() == []


async def test_a_settled_job_is_not_settled_again(storage: Storage) -> None:
    """Settling is final: a late second outcome cannot rewrite the first."""
    job_id = await reserve(storage)
    await storage.mark_submitted(job_id, "pred-2", 1)
    await storage.settle(job_id, JobState.FAILED, error_code="PredictionFailed")
    await storage.settle(job_id, JobState.COMPLETED)
    settled = await storage.get_job(job_id)
    assert settled is not None and settled.state is JobState.FAILED


async def test_settle_refuses_a_state_that_is_not_final(storage: Storage) -> None:
    """Only completed, failed and released end a job."""
    job_id = await reserve(storage)
    with pytest.raises(ValueError, match="not a final state"):
        await storage.settle(job_id, JobState.SUBMITTED)


async def test_admission_is_exact_under_concurrency(open_adapter: OpenStorage) -> None:
    """200 requests at once through two connections against a budget of 50 cents: exactly 50
    are recorded, and every other one is refused by the check, in every round."""
    connections = [await open_adapter(), await open_adapter()]
    budget = 50

    def within_budget(usage: Usage) -> None:
        if usage.guild_cents_today + 1 > budget:
            raise LimitReached("budget spent")

    for round_number in range(3):
        guild = Requester(user_id=1, guild_id=1000 + round_number, channel_id=100)

        async def one(index: int, guild: Requester = guild) -> bool:
            try:
                await connections[index % 2].reserve_job(
                    guild,
                    REQUEST,
                    reserved_cents=1,
                    counted_since=(0.0, 0.0),
                    admit=within_budget,
                    reply=ReplyPlace(),
                )
            except LimitReached:
                return False
            return True

        admitted = await asyncio.gather(*(one(index) for index in range(200)))
        assert sum(admitted) == budget
        tally = await connections[0].tally(guild.guild_id)
        assert tally.cents == budget


async def test_admission_sees_the_usage_it_is_asked_about(storage: Storage) -> None:
    """The check sees the member's jobs today, last job, jobs in progress and the server's
    spending; released jobs do not count."""
    kept = await reserve(storage, cents=2)
    await storage.mark_submitted(kept, "pred-1", 3)
    released = await reserve(storage, cents=2)
    await storage.settle(released, JobState.RELEASED)
    await reserve(storage, BOB, cents=1)
    seen: list[Usage] = []

    def look(usage: Usage) -> None:
        seen.append(usage)
        raise LimitReached("just looking")

    with pytest.raises(LimitReached):
        await storage.reserve_job(
            ALICE,
            REQUEST,
            reserved_cents=1,
            counted_since=(0.0, 0.0),
            admit=look,
            reply=ReplyPlace(),
        )
    [usage] = seen
    assert usage.user_jobs_today == 1 and usage.user_jobs_in_flight == 1
    assert usage.user_last_job_at is not None
    assert usage.guild_cents_today == usage.guild_cents_this_month == 3 + 1
    assert len(await storage.jobs_in_flight()) == 2  # a refusal recorded nothing


async def test_recovery_queries_find_open_and_undelivered_jobs(storage: Storage) -> None:
    """Open jobs are in flight; a job is undelivered until marked, which forgets its token."""
    token_reply = ReplyPlace.interaction("token-1", 2_000_000_000.0)
    first = await reserve(storage, reply=token_reply)
    second = await reserve(storage)
    await storage.mark_submitted(second, "pred-2", 1)
    await storage.settle(second, JobState.COMPLETED)
    assert [job.id for job in await storage.jobs_in_flight()] == [first]
    assert [job.id for job in await storage.undelivered_jobs(since=0)] == [first, second]
    await storage.set_reply(first, ReplyPlace.interaction("token-1", 2_000_000_000.0))
    await storage.mark_delivered(first)
    [left] = await storage.undelivered_jobs(since=0)
    assert left.id == second
    delivered = await storage.get_job(first)
    assert delivered is not None and delivered.reply.token is None
    assert await storage.undelivered_jobs(since=left.created_at + 1) == []


async def test_a_reply_place_keeps_its_kind(storage: Storage) -> None:
    """Where a reply lives comes back exactly as it was written, kind included."""
    job_id = await reserve(storage, reply=ReplyPlace.interaction("tok", 123.5))
    job = await storage.get_job(job_id)
    assert job is not None and job.reply == ReplyPlace(ReplyKind.INTERACTION, None, "tok", 123.5)
    await storage.set_reply(job_id, ReplyPlace.message(777))
    job = await storage.get_job(job_id)
    assert job is not None and job.reply == ReplyPlace(ReplyKind.MESSAGE, 777)


async def test_usage_tallies(storage: Storage) -> None:
    """Tallies count images, generations and cents per server and member, and rank members."""
    done = await reserve(storage)
    await storage.mark_submitted(done, "p1", 2)
    await storage.settle(done, JobState.COMPLETED)
    failed = await reserve(storage, BOB, cents=4)
    await storage.settle(failed, JobState.FAILED)
    await storage.settle(await reserve(storage, BOB), JobState.RELEASED)
    server = await storage.tally(10)
    assert (server.images, server.generations, server.cents) == (1, 2, 6)
    alice = await storage.tally(10, user_id=1)
    assert (alice.images, alice.generations, alice.cents) == (1, 1, 2)
    top = await storage.top_members(10, since=0)
    assert [(member.user_id, member.tally.cents) for member in top] == [(2, 4), (1, 2)]
    assert await storage.last_job_at(10, 1) is not None
    times = await storage.job_times(10, since=0)
    assert sorted((completed, cents) for _, completed, cents in times) == [(False, 4), (True, 2)]
    assert (await storage.tally(None)).generations == 0


async def test_guild_configuration_round_trips(storage: Storage) -> None:
    """Settings, channels and blocked terms are stored and read back; changes say if anything
    changed."""
    await storage.update_guild_settings(10, {"user_daily_images": 5, "timezone": "Europe/Paris"})
    await storage.update_guild_settings(10, {"user_daily_images": None})
    assert await storage.set_channel_allowed(10, 555, True)
    assert not await storage.set_channel_allowed(10, 555, True)
    assert await storage.set_term_blocked(10, "Wolf", True)
    config = await storage.load_guild_config(10)
    assert config.settings == GuildSettings(10, timezone="Europe/Paris")
    assert config.channel_ids == frozenset({555}) and config.blocked_terms == ("wolf",)
    assert await storage.set_term_blocked(10, "wolf", False)
    assert not await storage.set_channel_allowed(10, 556, False)
    assert (await storage.load_guild_config(11)).settings == GuildSettings(11)


async def test_bot_state_round_trips(storage: Storage) -> None:
    """Named values are kept and replaced."""
    assert await storage.get_state("k") is None
    await storage.set_state("k", "one")
    await storage.set_state("k", "two")
    assert await storage.get_state("k") == "two"


async def test_concurrent_writers_never_fail(open_adapter: OpenStorage) -> None:
    """Two connections (as two processes would have) writing 400 jobs each at once all land."""
    writers = [await open_adapter(), await open_adapter()]

    async def write_jobs(storage: Storage, user_id: int) -> None:
        for _ in range(100):
            requester = Requester(user_id=user_id, guild_id=10, channel_id=100)
            job_id = await reserve(storage, requester)
            await storage.mark_submitted(job_id, f"prediction-{job_id}", 1)
            await storage.settle(job_id, JobState.COMPLETED)

    await asyncio.gather(*(write_jobs(db, user) for user in range(4) for db in writers))
    assert await writers[0].total_charged_cents() == 800

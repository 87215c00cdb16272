"""The SQLite ledger: migrations, job life cycle, concurrent writers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.core.models import JobState, Requester
from bot.core.requests import GenerationRequest
from bot.db import Database

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
REQUEST = GenerationRequest(prompt="a red fox", seed=42)


async def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    """Opening the same file twice applies nothing the second time and keeps the data."""
    path = tmp_path / "ledger.db"
    first = await Database.open(path)
    version = await first.schema_version()
    job = await first.reserve_job(ALICE, REQUEST, reserved_cents=1)
    await first.close()

    second = await Database.open(path)
    assert version >= 1
    assert await second.schema_version() == version
    assert await second.migrate() == version
    assert (await second.get_job(job.id)) == job
    await second.close()


async def test_job_life_cycle_keeps_the_cost(database: Database) -> None:
    """reserved -> submitted -> completed records the prediction id, the cost and timestamps."""
    job = await database.reserve_job(ALICE, REQUEST, reserved_cents=1)
    assert job.state is JobState.RESERVED and job.cost_cents is None
    await database.mark_submitted(job.id, "pred-1", 3)
    await database.settle(job.id, JobState.COMPLETED)
    settled = await database.get_job(job.id)
    assert settled is not None
    assert settled.state is JobState.COMPLETED
    assert (settled.prediction_id, settled.cost_cents) == ("pred-1", 3)
    assert await database.total_charged_cents() == 3
    assert settled.request == REQUEST
    assert settled.submitted_at is not None and settled.finished_at is not None


async def test_released_jobs_cost_nothing_and_unknown_costs_count_the_reservation(
    database: Database,
) -> None:
    """A job the API never took is free; one whose submit went unanswered counts as reserved."""
    never_sent = await database.reserve_job(ALICE, REQUEST, reserved_cents=2)
    await database.settle(never_sent.id, JobState.RELEASED, error_code="OutOfCredit")
    unanswered = await database.reserve_job(ALICE, REQUEST, reserved_cents=2)
    await database.settle(unanswered.id, JobState.FAILED, error_code="SubmitOutcomeUnknown")
    assert await database.total_charged_cents() == 2
    assert await database.jobs_in_flight() == []


async def test_a_settled_job_is_not_settled_again(database: Database) -> None:
    """Settling is final: a late second outcome cannot rewrite the first."""
    job = await database.reserve_job(ALICE, REQUEST, reserved_cents=1)
    await database.mark_submitted(job.id, "pred-2", 1)
    await database.settle(job.id, JobState.FAILED, error_code="PredictionFailed")
    await database.settle(job.id, JobState.COMPLETED)
    settled = await database.get_job(job.id)
    assert settled is not None and settled.state is JobState.FAILED


async def test_settle_refuses_a_state_that_is_not_final(database: Database) -> None:
    """Only completed, failed and released end a job."""
    job = await database.reserve_job(ALICE, REQUEST, reserved_cents=1)
    with pytest.raises(ValueError, match="not a final state"):
        await database.settle(job.id, JobState.SUBMITTED)


async def test_concurrent_writers_never_see_database_is_locked(tmp_path: Path) -> None:
    """Two connections (as two processes would have) writing 400 jobs each at once all land."""
    path = tmp_path / "busy.db"
    writers = [await Database.open(path), await Database.open(path)]

    async def write_jobs(database: Database, user_id: int) -> None:
        for _ in range(100):
            requester = Requester(user_id=user_id, guild_id=10, channel_id=100)
            job = await database.reserve_job(requester, REQUEST, reserved_cents=1)
            await database.mark_submitted(job.id, f"prediction-{job.id}", 1)
            await database.settle(job.id, JobState.COMPLETED)

    try:
        await asyncio.gather(*(write_jobs(db, user) for user in range(4) for db in writers))
        assert await writers[0].total_charged_cents() == 800
    finally:
        for database in writers:
            await database.close()

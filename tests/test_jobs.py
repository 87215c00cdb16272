"""The generation pipeline: the ledger row is written first and settled on every path."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.models import Job, JobState, Requester
from bot.core.ports import Storage
from bot.core.requests import GenerationRequest
from bot.core.runner import Downloading, EventSink, JobEvent, JobResult, Progress, Queued, Submitted
from bot.core.services import Services
from bot.vibedream import BadOutput, ContentFlagged, OutOfCredit, SubmitOutcomeUnknown
from tests.fakes.fake_vibedream import FakeVibeDream, Fault, Outcome

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)


async def generate(
    services: Services, request: GenerationRequest, on_event: EventSink | None = None
) -> JobResult:
    """Admit a job for Alice and run it, as every front end does."""
    job = await services.admission.admit(ALICE, request)
    return await services.runner.execute(job, on_event)


async def test_a_generation_settles_completed_with_its_cost(
    services: Services, database: Storage, fake_api: FakeVibeDream
) -> None:
    """Events arrive in order, the row ends completed, and it costs what the API billed."""
    fake_api.cost_cents = 3
    fake_api.plan(Outcome(generation_time=0.4, estimated_time="0.1-0.3s"))
    events: list[JobEvent] = []

    async def record(event: JobEvent) -> None:
        events.append(event)

    result = await generate(services, GenerationRequest(prompt="a fox", size="512*512"), record)

    kinds = [type(event) for event in events]
    assert kinds[:2] == [Queued, Submitted] and kinds[-1] is Downloading
    assert Progress in kinds
    job = await database.get_job(result.job_id)
    assert job is not None and job.state is JobState.COMPLETED
    assert job.prediction_id == next(iter(fake_api.billing))
    assert job.cost_cents == result.cost_cents == fake_api.billed_cents == 3
    following = await services.admission.admit(ALICE, GenerationRequest(prompt="a fox"))
    assert following.reserved_cents == 3  # the next reservation uses the last price seen


async def test_an_unset_seed_is_chosen_shown_and_sent(
    services: Services, database: Storage, fake_api: FakeVibeDream
) -> None:
    """Seed -1 becomes a concrete seed that is sent to the API and kept in the ledger."""
    result = await generate(services, GenerationRequest(prompt="a fox", seed=-1))
    assert 0 <= result.request.seed <= 2_147_483_647
    assert fake_api.submissions[0]["seed"] == result.request.seed
    job = await database.get_job(result.job_id)
    assert job is not None and job.request.seed == result.request.seed


async def test_a_given_seed_is_forwarded_as_is(services: Services, fake_api: FakeVibeDream) -> None:
    """A seed the user chose reaches the API unchanged."""
    await generate(services, GenerationRequest(prompt="a fox", seed=1234))
    assert fake_api.submissions[0]["seed"] == 1234


async def test_a_refused_submit_releases_the_reservation(
    services: Services, database: Storage, fake_api: FakeVibeDream
) -> None:
    """When the API refuses (402), nothing was spent: the row is released at zero cost."""
    fake_api.credit_cents = 0
    with pytest.raises(OutOfCredit):
        await generate(services, GenerationRequest(prompt="a fox"))
    job = await only_job(database)
    assert (job.state, job.cost_cents, job.error_code) == (JobState.RELEASED, 0, "OutOfCredit")
    assert await database.total_charged_cents() == 0


async def test_an_unanswered_submit_is_kept_as_a_possible_cost(
    services: Services, database: Storage, fake_api: FakeVibeDream
) -> None:
    """A dropped submit may have been billed: the row fails but keeps the reserved cost."""
    fake_api.inject("submit", Fault("drop"))
    with pytest.raises(SubmitOutcomeUnknown):
        await generate(services, GenerationRequest(prompt="a fox"))
    job = await only_job(database)
    assert job.state is JobState.FAILED and job.cost_cents is None
    assert await database.total_charged_cents() == fake_api.billed_cents == 1


@pytest.mark.parametrize(
    ("outcome", "error"),
    [(Outcome(status="failed"), ContentFlagged), (Outcome(output="missing"), BadOutput)],
    ids=["moderation", "no-outputs"],
)
async def test_failures_after_submit_keep_the_cost(
    services: Services,
    database: Storage,
    fake_api: FakeVibeDream,
    outcome: Outcome,
    error: type[Exception],
) -> None:
    """A prediction that fails after the API took it is billed, and the ledger says so."""
    fake_api.plan(outcome)
    with pytest.raises(error):
        await generate(services, GenerationRequest(prompt="a fox"))
    job = await only_job(database)
    assert job.state is JobState.FAILED and job.error_code == error.__name__
    assert job.cost_cents == fake_api.billed_cents == 1


async def test_the_prediction_id_is_saved_before_the_wait(
    services: Services, database: Storage, fake_api: FakeVibeDream
) -> None:
    """Stopped while polling, a job is left 'submitted' with its prediction id, to be resumed."""
    fake_api.plan(Outcome(generation_time=30))
    polling = asyncio.Event()

    async def note_progress(event: JobEvent) -> None:
        if isinstance(event, Progress):
            polling.set()

    task = asyncio.create_task(generate(services, GenerationRequest(prompt="a fox"), note_progress))
    await asyncio.wait_for(polling.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [job] = await database.jobs_in_flight()
    assert job.state is JobState.SUBMITTED
    assert job.prediction_id == next(iter(fake_api.predictions))


async def test_a_failing_progress_handler_does_not_fail_the_job(services: Services) -> None:
    """A front end that cannot render an event (Discord down, say) still gets its image."""

    async def broken(event: JobEvent) -> None:
        raise RuntimeError("render failed")

    result = await generate(services, GenerationRequest(prompt="a fox"), broken)
    assert result.image.width == 1024


async def only_job(database: Storage) -> Job:
    """The one job these tests create: the first in a fresh ledger."""
    job = await database.get_job(1)
    assert job is not None and await database.get_job(2) is None
    return job

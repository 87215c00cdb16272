"""One generation from request to settled ledger row, reported as progress events.

No Discord here: any front end (the cogs, a test, a benchmark) calls `JobRunner.run` and renders
the events it is sent. The ledger row is written before the API is called and settled on every
path out, so no failure loses the record of money spent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.db import Database, Job, JobState, Requester
from bot.polling import Estimate
from bot.vibedream import (
    MAX_SEED,
    BadOutput,
    GeneratedImage,
    GenerationRequest,
    SubmitOutcomeUnknown,
    VibeDreamClient,
    VibeDreamError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Queued:
    job: Job


@dataclass(frozen=True)
class Submitted:
    job_id: int
    prediction_id: str
    estimate: Estimate


@dataclass(frozen=True)
class Progress:
    job_id: int
    elapsed: float
    estimate: Estimate


@dataclass(frozen=True)
class Downloading:
    job_id: int


JobEvent = Queued | Submitted | Progress | Downloading
EventSink = Callable[[JobEvent], Awaitable[None]]


@dataclass(frozen=True)
class JobResult:
    job_id: int
    request: GenerationRequest  # with the seed actually used
    image: GeneratedImage
    cost_cents: int | None
    seconds: float  # from admission to a checked image in hand


class JobRunner:
    """Runs generations against the API and keeps the ledger true."""

    def __init__(
        self,
        db: Database,
        api: VibeDreamClient,
        *,
        expected_cost_cents: int = 1,
        max_seconds: float = 120.0,
        seeds: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._api = api
        self._max_seconds = max_seconds
        self._seeds = seeds or random.Random()
        self._clock = clock
        # What the next job is expected to cost: the last price the API quoted.
        self.expected_cost_cents = expected_cost_cents

    def with_concrete_seed(self, request: GenerationRequest) -> GenerationRequest:
        """The API does not say which seed it drew, so we draw it: every result reproducible."""
        if request.seed != -1:
            return request
        return request.model_copy(update={"seed": self._seeds.randint(0, MAX_SEED)})

    async def run(
        self,
        requester: Requester,
        request: GenerationRequest,
        on_event: EventSink | None = None,
    ) -> JobResult:
        """Generate one image; raise a VibeDreamError after settling the row if anything fails."""
        started = self._clock()
        request = self.with_concrete_seed(request)
        job = await self._db.reserve_job(
            requester, request, reserved_cents=self.expected_cost_cents
        )
        await _emit(on_event, Queued(job))

        try:
            submission = await self._api.submit(request)
        except SubmitOutcomeUnknown as error:
            await self._settle(job.id, JobState.FAILED, error)
            raise
        except VibeDreamError as error:
            await self._settle(job.id, JobState.RELEASED, error)
            raise
        except asyncio.CancelledError:
            # Stopped mid-submit: the API may have accepted it, so its cost stays unknown.
            await asyncio.shield(self._settle(job.id, JobState.FAILED, None, "cancelled"))
            raise
        await self._db.mark_submitted(job.id, submission.prediction_id, submission.cost_cents)
        if submission.cost_cents is not None:
            self.expected_cost_cents = submission.cost_cents
        await _emit(on_event, Submitted(job.id, submission.prediction_id, submission.estimate))

        async def report_progress(elapsed: float, estimate: Estimate) -> None:
            await _emit(on_event, Progress(job.id, elapsed, estimate))

        # A cancellation from here on leaves the row 'submitted' so a restart can resume it.
        try:
            prediction = await self._api.wait(
                submission.prediction_id,
                estimate=submission.estimate,
                max_seconds=self._max_seconds,
                on_progress=report_progress,
            )
            if not prediction.outputs:
                raise BadOutput("completed prediction has no outputs")
            await _emit(on_event, Downloading(job.id))
            image = await self._api.download(prediction.outputs[0], request)
        except VibeDreamError as error:
            await self._settle(job.id, JobState.FAILED, error)
            raise
        await self._db.settle(job.id, JobState.COMPLETED)
        return JobResult(
            job_id=job.id,
            request=request,
            image=image,
            cost_cents=submission.cost_cents,
            seconds=self._clock() - started,
        )

    async def _settle(
        self,
        job_id: int,
        state: JobState,
        error: VibeDreamError | None,
        error_code: str | None = None,
    ) -> None:
        code = error_code or (type(error).__name__ if error else None)
        detail = error.detail if error else None
        log.warning("job %s ended %s: %s %s", job_id, state.value, code, detail or "")
        await self._db.settle(job_id, state, error_code=code, error=detail)


async def _emit(sink: EventSink | None, event: JobEvent) -> None:
    """Deliver an event; a front end that fails to render must not fail the generation."""
    if sink is None:
        return
    try:
        await sink(event)
    except Exception:
        log.exception("progress handler failed for %s", type(event).__name__)

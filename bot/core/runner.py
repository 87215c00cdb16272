"""One generation from request to settled ledger row, reported as progress events.

No Discord here: any front end (the cogs, a test, a benchmark) calls `JobRunner.execute` with
a job that `Admission` recorded, and renders the events it is sent. The ledger row is written
before the API is called and settled on every path out, so no failure loses the record of
money spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from bot.core.eta import RecentDurations
from bot.core.leases import LeaseKeeper
from bot.core.models import Job, JobState
from bot.core.polling import DEFAULT_ESTIMATE, Estimate
from bot.core.ports import JobLedger, StorageUnavailable
from bot.core.pricing import Pricing
from bot.core.requests import GeneratedImage, GenerationRequest
from bot.core.telemetry import NO_TELEMETRY, Telemetry
from bot.core.texts import N_
from bot.core.throttle import AdaptiveLimit, Ticket, Withdrawn
from bot.vibedream import (
    BadOutput,
    ProviderUnavailable,
    RateLimited,
    Submission,
    SubmitOutcomeUnknown,
    VibeDreamClient,
    VibeDreamError,
)

log = logging.getLogger(__name__)

OUTCOME_UNKNOWN = "OutcomeUnknown"  # the error code that flags a row for reconciliation
_T = TypeVar("_T")


class LedgerUnavailable(Exception):
    """The ledger could not record that a submit is about to be sent, so nothing was sent."""

    user_message = N_(
        "I couldn't record this image before making it, so nothing was sent or charged. "
        "Please try again in a minute."
    )

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CancelledInLine(Exception):
    """The requester cancelled the job while it waited for a slot: it was released."""

    user_message = N_("Cancelled before it started: nothing was charged.")
    detail = "cancelled while waiting"


class CancelOutcome(StrEnum):
    WITHDRAWN = "withdrawn"  # it was waiting: released, nothing spent
    STILL_RUNNING = "still running"  # the API has it: it cannot be called back, and is paid for
    NOT_HERE = "not here"  # not running in this process (finished, or another process's)


class ShuttingDown(Exception):
    """A queued job was not started because the bot is stopping; its row stays reserved, and
    the next start releases it and tells the requester."""


@dataclass(frozen=True)
class Queued:
    job: Job
    place_in_line: Callable[[], int | None]  # None once the job has a slot
    time_left: Callable[[int], float | None]  # seconds, from a place in line; None: unknown


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


@dataclass(frozen=True)
class StoppedWaiting:
    """The requester stopped waiting for a job the API already has: it goes on, quietly."""

    job_id: int


JobEvent = Queued | Submitted | Progress | Downloading | StoppedWaiting
EventSink = Callable[[JobEvent], Awaitable[None]]


@dataclass(frozen=True)
class JobResult:
    job_id: int
    request: GenerationRequest  # with the seed actually used
    image: GeneratedImage
    cost_cents: int | None
    seconds: float  # from the start of execution to a checked image in hand


class JobRunner:
    """Runs admitted generations against the API and keeps the ledger true."""

    def __init__(
        self,
        ledger: JobLedger,
        api: VibeDreamClient,
        pricing: Pricing,
        leases: LeaseKeeper,
        *,
        max_seconds: float = 120.0,
        concurrency: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._ledger = ledger
        self._api = api
        self._pricing = pricing
        self._owner = leases.owner
        self._max_seconds = max_seconds
        # Predictions in flight, adapting to the provider's push-back under a ceiling.
        self.slots = AdaptiveLimit(concurrency)
        self._starting = True
        self._clock = clock
        self._telemetry = telemetry or NO_TELEMETRY
        # Jobs executing in this process: their place in line and who is told of them.
        self._running: dict[int, tuple[Ticket, EventSink | None]] = {}
        self._recent = RecentDurations()

    def stop_starting(self) -> None:
        """Start no queued job from now on: the bot is shutting down."""
        self._starting = False

    async def execute(self, job: Job, on_event: EventSink | None = None) -> JobResult:
        """Generate an admitted job's image; on failure settle the row, then raise the
        VibeDreamError."""
        started = self._clock()
        ticket = Ticket()
        self._running[job.id] = (ticket, on_event)
        try:
            await _emit(on_event, Queued(job, lambda: self.slots.position(ticket), self._time_left))
            async with self.slots.slot(ticket):
                if not self._starting:
                    raise ShuttingDown(f"job {job.id} not started")
                submission = await self._submit(job)
                submitted = self._clock()
                estimate = submission.estimate
                await _emit(on_event, Submitted(job.id, submission.prediction_id, estimate))
                # The wait starts at the submit, so the poll schedule may learn from it.
                result = await self._complete(job, submission, on_event, started, job.request.size)
                self._recent.add(self._clock() - submitted)
                return result
        except Withdrawn:
            await self.release(job, "Cancelled")
            raise CancelledInLine(f"job {job.id} cancelled while waiting") from None
        finally:
            del self._running[job.id]

    def _time_left(self, place_in_line: int) -> float | None:
        return self._recent.time_left(place_in_line, self.slots.limit)

    async def cancel(self, job_id: int) -> CancelOutcome:
        """The requester wants a job no more. One still waiting for a slot leaves the line
        and is released; one the API has cannot be called back (the API has no cancel), so
        whoever shows its progress is told to stop waiting, and it is delivered all the same."""
        running = self._running.get(job_id)
        if running is None:
            return CancelOutcome.NOT_HERE
        ticket, on_event = running
        if self.slots.withdraw(ticket):
            return CancelOutcome.WITHDRAWN
        await _emit(on_event, StoppedWaiting(job_id))
        return CancelOutcome.STILL_RUNNING

    async def resume(self, job: Job, on_event: EventSink | None = None) -> JobResult:
        """Finish a job an earlier run (or a process that died) submitted, or completed but
        never delivered."""
        assert job.prediction_id is not None, "only submitted jobs can be resumed"
        submission = Submission(job.prediction_id, DEFAULT_ESTIMATE, job.cost_cents)
        async with self.slots.slot():
            return await self._complete(job, submission, on_event, self._clock(), None)

    async def release(self, job: Job, reason: str) -> None:
        """End a job that never reached the API: nothing was spent."""
        await self._end(job, JobState.RELEASED, None, error_code=reason)

    async def give_up_on_unknown_outcome(self, job: Job) -> None:
        """End a job whose submit may have reached the API, unanswered: it counts at the
        reserved cost, flagged 'OutcomeUnknown' for reconciliation."""
        await self._end(
            job,
            JobState.FAILED,
            None,
            error_code=OUTCOME_UNKNOWN,
            error="the process stopped while the submit was in flight",
        )

    async def abandon(self, job: Job) -> None:
        """End a submitted job nobody is waiting for any more; its cost stays on the books."""
        await self._end(job, JobState.FAILED, job.cost_cents, error_code="Abandoned")

    async def _submit(self, job: Job) -> Submission:
        # Write-ahead: once the ledger says "submitting", a crash from here on is treated as
        # "may have been billed", never as "nothing was charged".
        try:
            marked = await self._ledger.mark_submitting(job.id, self._owner)
        except StorageUnavailable as error:
            with contextlib.suppress(StorageUnavailable):
                await self.release(job, "LedgerUnavailable")
            raise LedgerUnavailable(str(error)) from None
        if not marked:
            raise LedgerUnavailable(f"job {job.id} is no longer this process's to submit")
        submit = asyncio.ensure_future(self._timed("submit", self._api.submit(job.request)))
        try:
            await asyncio.shield(submit)
        except asyncio.CancelledError:
            # Stopped mid-submit: still wait for the answer, so that the ledger knows whether
            # the API took the job (and what it costs) instead of guessing.
            with contextlib.suppress(VibeDreamError):
                await self._settle_submit(job, submit)
            raise
        except VibeDreamError:
            pass  # settled and raised just below
        return await self._settle_submit(job, submit)

    async def _settle_submit(self, job: Job, submit: asyncio.Future[Submission]) -> Submission:
        try:
            submission = await submit
        except SubmitOutcomeUnknown as error:
            await self._settle(job, JobState.FAILED, error)  # may be billed: cost unknown
            raise
        except VibeDreamError as error:
            if isinstance(error, RateLimited | ProviderUnavailable):
                self.slots.pushed_back(error.retry_after)  # the provider is overloaded
            await self._settle(job, JobState.RELEASED, error)  # refused: nothing spent
            raise
        self.slots.accepted()
        await self._record_submission(job, submission)
        return submission

    async def _record_submission(self, job: Job, submission: Submission) -> None:
        self._pricing.quoted(submission.cost_cents)
        try:
            await self._ledger.mark_submitted(
                job.id, self._owner, submission.prediction_id, submission.cost_cents
            )
        except StorageUnavailable as error:
            # The row stays 'submitting': counted at the reserved cost, never as free. The
            # job goes on, since the prediction id is known here.
            log.error("job %s: could not record its submission: %s", job.id, error)

    async def _complete(
        self,
        job: Job,
        submission: Submission,
        on_event: EventSink | None,
        started: float,
        learn_size: str | None,
    ) -> JobResult:
        """Poll, download and settle. A cancellation leaves the row 'submitted' for a restart
        to resume."""

        async def report_progress(elapsed: float, estimate: Estimate) -> None:
            await _emit(on_event, Progress(job.id, elapsed, estimate))

        try:
            prediction = await self._api.wait(
                submission.prediction_id,
                estimate=submission.estimate,
                max_seconds=self._max_seconds,
                on_progress=report_progress,
                size=learn_size,
            )
            if not prediction.outputs:
                raise BadOutput("completed prediction has no outputs")
            await _emit(on_event, Downloading(job.id))
            image = await self._timed(
                "download", self._api.download(prediction.outputs[0], job.request)
            )
        except VibeDreamError as error:
            await self._settle(job, JobState.FAILED, error, submission.cost_cents)
            raise
        await self._end(job, JobState.COMPLETED, submission.cost_cents)
        return JobResult(
            job_id=job.id,
            request=job.request,
            image=image,
            cost_cents=submission.cost_cents,
            seconds=self._clock() - started,
        )

    async def _settle(
        self, job: Job, state: JobState, error: VibeDreamError, cost_cents: int | None = None
    ) -> None:
        code = type(error).__name__
        log.warning("job %s ended %s: %s %s", job.id, state.value, code, error.detail)
        await self._end(job, state, cost_cents, error_code=code, error=error.detail)

    async def _end(
        self,
        job: Job,
        state: JobState,
        cost_cents: int | None,
        *,
        error_code: str | None = None,
        error: str | None = None,
    ) -> None:
        """Settle the row; if it was this process's to settle, report what the job cost as the
        ledger counts it: nothing if released, else its price, or what was reserved if unknown."""
        if await self._ledger.settle(
            job.id, self._owner, state, error_code=error_code, error=error
        ):
            cents = 0 if state is JobState.RELEASED else cost_cents
            spent = job.reserved_cents if cents is None else cents
            self._telemetry.job_ended(state.value, job.requester.guild_id, spent)

    async def _timed(self, kind: str, call: Awaitable[_T]) -> _T:
        """Await an API call, reporting how long it took and how it ended."""
        started = self._clock()
        try:
            result = await call
        except Exception as error:
            self._telemetry.provider_call(kind, self._clock() - started, type(error).__name__)
            raise
        self._telemetry.provider_call(kind, self._clock() - started, None)
        return result


async def _emit(sink: EventSink | None, event: JobEvent) -> None:
    """Deliver an event; a front end that fails to render must not fail the generation."""
    if sink is None:
        return
    try:
        await sink(event)
    except Exception:
        log.exception("progress handler failed for %s", type(event).__name__)

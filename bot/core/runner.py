"""One generation from request to settled ledger row, reported as progress events.

No Discord here: any front end (the cogs, a test, a benchmark) calls `JobRunner.run` and renders
the events it is sent. The ledger row is written before the API is called and settled on every
path out, so no failure loses the record of money spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pydantic import ValidationError

from bot.core.imaging import Reference, check_reference
from bot.core.limits import NO_LIMITS, Limits, Usage, check_admission, check_request, periods, zone
from bot.core.models import NO_REPLY, GuildConfig, Job, JobState, ReplyPlace, Requester
from bot.core.polling import DEFAULT_ESTIMATE, Estimate
from bot.core.refusals import Refused
from bot.core.requests import (
    MAX_PROMPT_LENGTH,
    MAX_SEED,
    GeneratedImage,
    GenerationRequest,
    OutputFormat,
    Size,
)
from bot.db import Database
from bot.vibedream import (
    BadOutput,
    Submission,
    SubmitOutcomeUnknown,
    VibeDreamClient,
    VibeDreamError,
)

log = logging.getLogger(__name__)

RESTARTING = "The bot is restarting; please try again in a minute."


class ShuttingDown(Exception):
    """A queued job was not started because the bot is stopping; its row stays reserved, and
    the next start releases it and tells the requester."""


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
    seconds: float  # from the start of execution to a checked image in hand


class JobRunner:
    """Runs generations against the API and keeps the ledger true."""

    def __init__(
        self,
        db: Database,
        api: VibeDreamClient,
        *,
        expected_cost_cents: int = 1,
        max_seconds: float = 120.0,
        default_size: Size = "1024*1024",
        default_format: OutputFormat = "jpeg",
        default_limits: Limits = NO_LIMITS,
        concurrency: int = 32,
        seeds: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._api = api
        self._max_seconds = max_seconds
        self._default_size = default_size
        self._default_format = default_format
        self._default_limits = default_limits
        # At most this many jobs talk to the API at once; the rest wait, shown as queued.
        self._slots = asyncio.Semaphore(concurrency)
        self._admitting = True
        self._seeds = seeds or random.Random()
        self._clock = clock
        self._wall_clock = wall_clock
        # What the next job is expected to cost: the last price the API quoted.
        self.expected_cost_cents = expected_cost_cents

    async def prepare(
        self,
        requester: Requester,
        *,
        prompt: str,
        size: str | None = None,
        output_format: str | None = None,
        seed: int = -1,
        strength: float | None = None,
        reference: Reference | None = None,
    ) -> GenerationRequest:
        """Turn what a user asked for into a valid request, filling in the server's defaults.

        Raises Refused, with a message for the user, for anything the API would not accept.
        """
        if reference is not None:
            check_reference(reference)
        default_size, default_format = await self.defaults_for(requester.guild_id)
        fields: dict[str, object] = {
            "prompt": prompt,
            "size": size or default_size,
            "output_format": output_format or default_format,
            "seed": seed,
            "image": reference.url if reference else None,
        }
        if strength is not None:
            fields["strength"] = strength
        try:
            return GenerationRequest.model_validate(fields)
        except ValidationError as error:
            raise Refused(_explain(error)) from None

    def with_concrete_seed(self, request: GenerationRequest) -> GenerationRequest:
        """The API does not say which seed it drew, so we draw it: every result reproducible."""
        if request.seed != -1:
            return request
        return request.model_copy(update={"seed": self._seeds.randint(0, MAX_SEED)})

    async def defaults_for(self, guild_id: int | None) -> tuple[str, str]:
        """The size and format a server's images get unless the member picks others."""
        if guild_id is None:
            return self._default_size, self._default_format
        settings = await self._db.guild_settings(guild_id)
        return (
            settings.default_size or self._default_size,
            settings.default_format or self._default_format,
        )

    async def limits_for(self, guild_id: int | None) -> Limits:
        """The limits in force for a server: its own settings over the bot-wide defaults."""
        if guild_id is None:
            return self._default_limits
        return _combine(await self._db.guild_config(guild_id), self._default_limits)

    async def admit(
        self,
        requester: Requester,
        request: GenerationRequest,
        *,
        role_ids: Collection[int] = (),
        reply: ReplyPlace = NO_REPLY,
    ) -> Job:
        """Check every limit and record the job, atomically, before anything is spent.

        Raises Refused (LimitReached, ChannelNotAllowed, BlockedPrompt) without recording
        anything. Fast: call it before replying, so that a refusal can still be private.
        """
        if not self._admitting:
            raise Refused(RESTARTING)
        limits = await self.limits_for(requester.guild_id)
        check_request(limits, requester.channel_id, request.prompt)
        now = datetime.fromtimestamp(self._wall_clock(), UTC)
        window = periods(now, limits.timezone)
        exempt = limits.exempt_role_id is not None and limits.exempt_role_id in role_ids
        expected = self.expected_cost_cents

        def within_limits(usage: Usage) -> None:
            check_admission(limits, usage, window, now=now, exempt=exempt, expected_cents=expected)

        return await self._db.reserve_job(
            requester,
            self.with_concrete_seed(request),
            reserved_cents=expected,
            counted_since=(window.day_start.timestamp(), window.month_start.timestamp()),
            admit=within_limits,
            reply=reply,
        )

    def stop_admitting(self) -> None:
        """Refuse new jobs from now on: the bot is shutting down."""
        self._admitting = False

    async def run(
        self,
        requester: Requester,
        request: GenerationRequest,
        on_event: EventSink | None = None,
    ) -> JobResult:
        """Admit and execute in one step."""
        job = await self.admit(requester, request)
        return await self.execute(job, on_event)

    async def execute(self, job: Job, on_event: EventSink | None = None) -> JobResult:
        """Generate an admitted job's image; on failure settle the row, then raise the
        VibeDreamError."""
        started = self._clock()
        await _emit(on_event, Queued(job))
        async with self._slots:
            if not self._admitting:
                raise ShuttingDown(f"job {job.id} not started")
            submission = await self._submit(job)
            await _emit(on_event, Submitted(job.id, submission.prediction_id, submission.estimate))
            return await self._complete(job, submission, on_event, started)

    async def resume(self, job: Job, on_event: EventSink | None = None) -> JobResult:
        """Finish a job an earlier run submitted (or completed but never delivered)."""
        assert job.prediction_id is not None, "only submitted jobs can be resumed"
        submission = Submission(job.prediction_id, DEFAULT_ESTIMATE, job.cost_cents)
        async with self._slots:
            return await self._complete(job, submission, on_event, self._clock())

    async def release(self, job: Job, reason: str) -> None:
        """End a job that never reached the API: nothing was spent."""
        await self._db.settle(job.id, JobState.RELEASED, error_code=reason)

    async def _submit(self, job: Job) -> Submission:
        submit = asyncio.ensure_future(self._api.submit(job.request))
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
            await self._settle(job.id, JobState.FAILED, error)  # may be billed: cost unknown
            raise
        except VibeDreamError as error:
            await self._settle(job.id, JobState.RELEASED, error)  # refused: nothing spent
            raise
        await self._record_submission(job, submission)
        return submission

    async def _record_submission(self, job: Job, submission: Submission) -> None:
        await self._db.mark_submitted(job.id, submission.prediction_id, submission.cost_cents)
        if submission.cost_cents is not None:
            self.expected_cost_cents = submission.cost_cents

    async def _complete(
        self,
        job: Job,
        submission: Submission,
        on_event: EventSink | None,
        started: float,
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
            )
            if not prediction.outputs:
                raise BadOutput("completed prediction has no outputs")
            await _emit(on_event, Downloading(job.id))
            image = await self._api.download(prediction.outputs[0], job.request)
        except VibeDreamError as error:
            await self._settle(job.id, JobState.FAILED, error)
            raise
        await self._db.settle(job.id, JobState.COMPLETED)
        return JobResult(
            job_id=job.id,
            request=job.request,
            image=image,
            cost_cents=submission.cost_cents,
            seconds=self._clock() - started,
        )

    async def _settle(self, job_id: int, state: JobState, error: VibeDreamError) -> None:
        code = type(error).__name__
        log.warning("job %s ended %s: %s %s", job_id, state.value, code, error.detail)
        await self._db.settle(job_id, state, error_code=code, error=error.detail)


def _combine(config: GuildConfig, defaults: Limits) -> Limits:
    """A server's limits: its own numbers where it set them (0 meaning none), else the defaults."""

    def pick(own: int | None, default: int | None) -> int | None:
        chosen = default if own is None else own
        return chosen or None

    settings = config.settings
    return replace(
        defaults,
        user_daily_images=pick(settings.user_daily_images, defaults.user_daily_images),
        user_cooldown_seconds=pick(settings.user_cooldown_seconds, defaults.user_cooldown_seconds),
        user_max_concurrent=pick(settings.user_max_concurrent, defaults.user_max_concurrent),
        guild_daily_budget_cents=pick(
            settings.guild_daily_budget_cents, defaults.guild_daily_budget_cents
        ),
        guild_monthly_budget_cents=pick(
            settings.guild_monthly_budget_cents, defaults.guild_monthly_budget_cents
        ),
        timezone=zone(settings.timezone),
        exempt_role_id=settings.exempt_role_id,
        channel_ids=config.channel_ids,
        blocked_terms=config.blocked_terms,
    )


def _explain(error: ValidationError) -> str:
    """The first problem with a request, in a sentence a user can act on."""
    problem = error.errors()[0]
    field = str(problem["loc"][0]) if problem["loc"] else "request"
    if field == "prompt":
        if problem["type"] == "string_too_long":
            return f"The prompt is too long: keep it under {MAX_PROMPT_LENGTH} characters."
        return "The prompt is empty: describe the image you want."
    if field == "strength":
        return "Strength goes from 0 to 1 in steps of 0.1, for example 0.6."
    if field == "seed":
        return f"The seed must be -1 (random) or a whole number up to {MAX_SEED}."
    return f"That {field.replace('_', ' ')} is not one the image service accepts."


async def _emit(sink: EventSink | None, event: JobEvent) -> None:
    """Deliver an event; a front end that fails to render must not fail the generation."""
    if sink is None:
        return
    try:
        await sink(event)
    except Exception:
        log.exception("progress handler failed for %s", type(event).__name__)

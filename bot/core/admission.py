"""Admission: turn what a member asked for into a valid request, then check every limit and
record the job, atomically, before anything is spent."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from pydantic import ValidationError

from bot.core.imaging import Reference, check_reference
from bot.core.leases import LeaseKeeper
from bot.core.limits import Usage, check_admission, check_request, periods
from bot.core.models import NO_REPLY, Job, ReplyPlace, Requester
from bot.core.policy import GuildPolicy
from bot.core.ports import JobLedger, StorageUnavailable
from bot.core.pricing import Pricing
from bot.core.refusals import Refused
from bot.core.requests import MAX_PROMPT_LENGTH, MAX_SEED, GenerationRequest
from bot.core.texts import N_

log = logging.getLogger(__name__)

RESTARTING = N_("The bot is restarting; please try again in a minute.")
LEDGER_DOWN = N_("I can't record new images right now, so none was made. Please try again soon.")


class Admission:
    def __init__(
        self,
        ledger: JobLedger,
        policy: GuildPolicy,
        pricing: Pricing,
        leases: LeaseKeeper,
        *,
        seeds: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._ledger = ledger
        self._policy = policy
        self._pricing = pricing
        self._leases = leases
        self._seeds = seeds or random.Random()
        self._wall_clock = wall_clock
        self._admitting = True

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
        style_name: str | None = None,
    ) -> GenerationRequest:
        """Turn what a user asked for into a valid request, filling in the server's defaults.

        Raises Refused, with a message for the user, for anything the API would not accept.
        """
        if reference is not None:
            check_reference(reference)
        default_size, default_format = await self._policy.defaults_for(requester.guild_id)
        fields: dict[str, object] = {
            "prompt": prompt,
            "size": size or default_size,
            "output_format": output_format or default_format,
            "seed": seed,
            "image": reference.url if reference else None,
            "style_name": style_name,
        }
        if strength is not None:
            fields["strength"] = strength
        try:
            return GenerationRequest.model_validate(fields)
        except ValidationError as error:
            raise _refusal(error) from None

    def with_concrete_seed(self, request: GenerationRequest) -> GenerationRequest:
        """The API does not say which seed it drew, so we draw it: every result reproducible."""
        if request.seed != -1:
            return request
        return request.model_copy(update={"seed": self._seeds.randint(0, MAX_SEED)})

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
        [job] = await self.admit_set(requester, request, 1, role_ids=role_ids, reply=reply)
        return job

    async def admit_set(
        self,
        requester: Requester,
        request: GenerationRequest,
        count: int,
        *,
        role_ids: Collection[int] = (),
        reply: ReplyPlace = NO_REPLY,
    ) -> list[Job]:
        """`count` images of one request with seeds s, s+1, ...: admitted together under every
        limit, or refused whole (saying how many would fit)."""
        jobs = await self._reserve(requester, request, count, role_ids, reply, dry_run=False)
        for job in jobs:
            self._leases.hold(job.id)
        return jobs

    async def check_set(
        self,
        requester: Requester,
        request: GenerationRequest,
        count: int,
        *,
        role_ids: Collection[int] = (),
    ) -> None:
        """Raise as `admit_set` would, recording nothing: for a preview, before the member
        confirms (when the limits are checked again, as they stand then)."""
        await self._reserve(requester, request, count, role_ids, NO_REPLY, dry_run=True)

    async def _reserve(
        self,
        requester: Requester,
        request: GenerationRequest,
        count: int,
        role_ids: Collection[int],
        reply: ReplyPlace,
        *,
        dry_run: bool,
    ) -> list[Job]:
        if not self._admitting:
            raise Refused(RESTARTING)
        limits = await self._policy.limits_for(requester.guild_id)
        cap = await self._policy.max_images_per_request(requester.guild_id)
        if count > cap:
            raise Refused(N_("This server allows up to {count} images per request."), count=cap)
        check_request(limits, requester.channel_id, request.prompt)
        now = datetime.fromtimestamp(self._wall_clock(), UTC)
        window = periods(now, limits.timezone)
        exempt = limits.exempt_role_id is not None and limits.exempt_role_id in role_ids
        expected = self._pricing.expected_cents

        def within_limits(usage: Usage) -> None:
            check_admission(
                limits, usage, window, now=now, exempt=exempt, expected_cents=expected, count=count
            )
            if dry_run:
                raise _WouldBeAdmitted  # rolls the transaction back: nothing is recorded

        try:
            return await self._ledger.reserve_jobs(
                requester,
                self.seeded_set(request, count),
                reserved_cents=expected,
                counted_since=(window.day_start.timestamp(), window.month_start.timestamp()),
                admit=within_limits,
                reply=reply,
                lease=self._leases.new_lease(),
            )
        except _WouldBeAdmitted:
            return []
        except StorageUnavailable:
            log.exception("could not record a job for user %s", requester.user_id)
            raise Refused(LEDGER_DOWN) from None

    def seeded_set(self, request: GenerationRequest, count: int) -> list[GenerationRequest]:
        """The requests of a set: seeds s, s+1, ... from the request's (or a drawn) seed."""
        first = self.with_concrete_seed(request).seed
        return [
            request.model_copy(update={"seed": (first + offset) % (MAX_SEED + 1)})
            for offset in range(count)
        ]

    def stop_admitting(self) -> None:
        """Refuse new jobs from now on: the bot is shutting down."""
        self._admitting = False


class _WouldBeAdmitted(Exception):
    """A dry run's admission passed every check."""


def _refusal(error: ValidationError) -> Refused:
    """The first problem with a request, in a sentence a user can act on."""
    problem = error.errors()[0]
    field = str(problem["loc"][0]) if problem["loc"] else "request"
    if field == "prompt":
        if problem["type"] == "string_too_long":
            return Refused(
                N_("The prompt is too long: keep it under {limit} characters."),
                limit=MAX_PROMPT_LENGTH,
            )
        return Refused(N_("The prompt is empty: describe the image you want."))
    if field == "strength":
        return Refused(N_("Strength goes from 0 to 1 in steps of 0.1, for example 0.6."))
    if field == "seed":
        return Refused(
            N_("The seed must be -1 (random) or a whole number up to {limit}."), limit=MAX_SEED
        )
    if field == "size":
        return Refused(N_("That size is not one the image service accepts."))
    if field == "output_format":
        return Refused(N_("That format is not one the image service accepts."))
    return Refused(N_("That request is not one the image service accepts."))

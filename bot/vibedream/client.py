"""The client: submit a prediction, poll it to its end, download its output, over one shared
aiohttp session. The raw response body and the API key never leave this package except as a
trimmed `detail` meant for logs."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.core.polling import DEFAULT_ESTIMATE, Estimate, LearnedSchedule, PollSchedule
from bot.core.requests import GeneratedImage, GenerationRequest
from bot.vibedream.errors import (
    DeadlineExceeded,
    PredictionFailed,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    UndecodableOutput,
)
from bot.vibedream.outputs import DEFAULT_ASSETS_HOSTS, AssetPolicy, fetch_output, prove_image
from bot.vibedream.wire import (
    Prediction,
    Route,
    Submission,
    error_for_status,
    parse_prediction,
    parse_submission,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeouts:
    submit: float = 15.0
    poll: float = 10.0
    download: float = 30.0
    connect: float = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off with full jitter for polls and downloads; bounded waits for rate-limited submits."""

    submit_attempts: int = 3
    download_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 2.0
    max_retry_after: float = 30.0

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        return rng() * min(self.max_delay, self.base_delay * 2.0**attempt)


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRY = RetryPolicy()
ProgressCallback = Callable[[float, Estimate], Awaitable[None]]
# Told after each poll how long it took, and the error's class name if it failed.
PollObserver = Callable[[float, str | None], None]


class VibeDreamClient:
    """Talks to the API over one shared aiohttp session owned by the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        schedule: PollSchedule | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_output_bytes: int = 32 * 1024 * 1024,
        assets_hosts: Collection[str] = DEFAULT_ASSETS_HOSTS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        on_poll: PollObserver | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._secrets = (api_key,)  # scrubbed from any error body the provider echoes it in
        # Outputs are fetched only from the API's own host or these; see AssetPolicy.
        self._assets = AssetPolicy(self._base_url, assets_hosts)
        self._schedule = schedule if schedule is not None else LearnedSchedule()
        self._timeouts = timeouts
        self._retry = retry
        self._max_output_bytes = max_output_bytes
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._on_poll = on_poll

    async def submit(self, request: GenerationRequest) -> Submission:
        """Start a prediction. Retried only on 429 and 503, which mean nothing was accepted."""
        url = f"{self._base_url}/models/z-image-turbo/generate"
        for attempt in range(self._retry.submit_attempts):
            try:
                body = await self._request_json(
                    "POST", url, self._timeouts.submit, "submit", payload=request.to_payload()
                )
            except (RateLimited, ProviderUnavailable) as error:
                retryable = isinstance(error, RateLimited) or error.status == 503
                wait = error.retry_after
                if wait is None:
                    wait = self._retry.backoff(attempt + 1, self._rng)
                last_attempt = attempt + 1 == self._retry.submit_attempts
                if not retryable or last_attempt or wait > self._retry.max_retry_after:
                    raise
                log.info("submit refused with %s; retrying in %.2fs", error.status, wait)
                await self._sleep(wait)
            except _NoAnswer as error:
                raise SubmitOutcomeUnknown(str(error)) from None
            except _Malformed as error:
                raise SubmitOutcomeUnknown(f"unreadable submit response: {error}") from None
            else:
                return parse_submission(body)
        raise AssertionError("unreachable: the last attempt raises")

    async def get(self, prediction_id: str) -> Prediction:
        """One poll. Transient trouble raises ProviderUnavailable or RateLimited; an id the
        provider does not know raises PredictionUnknown."""
        url = f"{self._base_url}/predictions/{prediction_id}"
        started = self._clock()
        failure: str | None = None  # the error's class name, if the poll fails
        try:
            body = await self._request_json("GET", url, self._timeouts.poll, "poll")
            return parse_prediction(body, prediction_id)
        except _NoAnswer as error:
            failure = ProviderUnavailable.__name__
            raise ProviderUnavailable(str(error)) from None
        except _Malformed as error:
            failure = ProviderUnavailable.__name__
            raise ProviderUnavailable(f"unreadable poll response: {error}") from None
        except Exception as error:
            failure = type(error).__name__
            raise
        finally:
            if self._on_poll is not None:
                self._on_poll(self._clock() - started, failure)

    async def wait(
        self,
        prediction_id: str,
        *,
        estimate: Estimate = DEFAULT_ESTIMATE,
        max_seconds: float = 120.0,
        on_progress: ProgressCallback | None = None,
        size: str | None = None,
    ) -> Prediction:
        """Poll until the prediction completes (returned) or fails (PredictionFailed).

        Statuses we do not know are treated as still running; transient errors are retried with
        back-off; all of it bounded by `max_seconds` from now. With the request's `size`, the
        schedule learns from this completion; pass it only when the wait starts at the submit.
        """
        started = self._clock()
        deadline = started + max_seconds
        delays = self._schedule.delays(estimate, size)
        failures = 0
        running_at = 0.0  # when a poll last found it running, in seconds from `started`
        due = started + next(delays)
        while True:
            now = self._clock()
            if now >= deadline:
                raise DeadlineExceeded(
                    f"prediction {prediction_id} not finished in {max_seconds:g}s"
                )
            due = min(due, deadline)
            if due > now:
                await self._sleep(due - now)
            polled_at = self._clock() - started
            try:
                prediction = await self.get(prediction_id)
            except (ProviderUnavailable, RateLimited) as error:
                failures += 1
                wait = error.retry_after or self._retry.backoff(failures, self._rng)
                log.info("poll of %s failed (%s); retrying in %.2fs", prediction_id, error, wait)
                due = self._clock() + wait
                continue
            failures = 0
            if prediction.status == "completed":
                if size is not None:
                    self._schedule.observe(size, running_at, polled_at)
                return prediction
            if prediction.status == "failed":
                raise PredictionFailed.for_reason(prediction.error or "")
            if prediction.status != "processing":
                log.debug("prediction %s has unknown status %r", prediction_id, prediction.status)
            running_at = polled_at
            if on_progress is not None:
                await on_progress(self._clock() - started, estimate)
            due += next(delays)

    async def download(self, url: str, request: GenerationRequest) -> GeneratedImage:
        """Fetch an output and prove it is the image we asked for (see outputs.py).

        A URL off the allowed hosts is refused before any request. Transient failures (5xx,
        408, 429, timeouts, dropped or cut transfers) and bodies that are not an intact image
        are retried, at most `download_attempts` times in all: the image is paid for, and a
        broken transfer or an error page from the assets host is worth a second look. Any
        other answer (a missing or expired file, a redirect, another 4xx, an image of the
        wrong size or format) is final.
        """
        self._assets.check(url)
        timeout = aiohttp.ClientTimeout(
            total=self._timeouts.download, connect=self._timeouts.connect
        )
        for attempt in range(1, self._retry.download_attempts + 1):
            try:
                data, content_type = await fetch_output(
                    self._session, url, client_timeout=timeout, max_bytes=self._max_output_bytes
                )
                if request.output_format == "webp":  # proven by a full decode: off the loop
                    return await asyncio.to_thread(prove_image, data, content_type, request)
                return prove_image(data, content_type, request)  # a header and a marker
            except (ProviderUnavailable, RateLimited, UndecodableOutput) as error:
                wait = error.retry_after
                if wait is None:
                    wait = self._retry.backoff(attempt, self._rng)
                if attempt == self._retry.download_attempts or wait > self._retry.max_retry_after:
                    raise
                log.info("download failed (%s); retrying in %.2fs", error, wait)
                await self._sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")

    async def _request_json(
        self,
        method: str,
        url: str,
        total_timeout: float,
        route: Route,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=total_timeout, connect=self._timeouts.connect)
        try:
            async with self._session.request(
                method, url, json=payload, headers=self._auth, timeout=timeout
            ) as response:
                text = await response.text(errors="replace")
                if response.status >= 400:
                    raise error_for_status(
                        response.status, text, response.headers, route=route, secrets=self._secrets
                    )
        except (TimeoutError, aiohttp.ClientError) as error:
            raise _NoAnswer(f"{method} {_path(url)}: {type(error).__name__}") from None
        try:
            body = json.loads(text)
        except ValueError as error:
            raise _Malformed(str(error)) from None
        if not isinstance(body, dict):
            raise _Malformed("expected a JSON object")
        return body


class _NoAnswer(Exception):
    """A timeout or dropped connection: we cannot know what the server did."""


class _Malformed(Exception):
    """A success status whose body we cannot read."""


def _path(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[-1]

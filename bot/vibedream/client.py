"""The client: submit a prediction, poll it to its end, download its output, over one shared
aiohttp session. The raw response body and the API key never leave this package except as a
trimmed `detail` meant for logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from PIL import Image, UnidentifiedImageError

from bot.core.polling import DEFAULT_ESTIMATE, Estimate, EstimateShaped, PollSchedule
from bot.core.requests import GeneratedImage, GenerationRequest, OutputFormat
from bot.vibedream.errors import (
    BadOutput,
    DeadlineExceeded,
    PredictionFailed,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    UndecodableOutput,
)
from bot.vibedream.wire import (
    Prediction,
    Submission,
    error_for_status,
    parse_prediction,
    parse_submission,
)

log = logging.getLogger(__name__)

_PILLOW_FORMATS: dict[str, OutputFormat] = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._schedule = schedule or EstimateShaped()
        self._timeouts = timeouts
        self._retry = retry
        self._max_output_bytes = max_output_bytes
        self._sleep = sleep
        self._clock = clock
        self._rng = rng

    async def submit(self, request: GenerationRequest) -> Submission:
        """Start a prediction. Retried only on 429 and 503, which mean nothing was accepted."""
        url = f"{self._base_url}/models/z-image-turbo/generate"
        for attempt in range(self._retry.submit_attempts):
            try:
                body = await self._request_json(
                    "POST", url, self._timeouts.submit, payload=request.to_payload()
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
        """One poll. Transient trouble raises ProviderUnavailable or RateLimited."""
        url = f"{self._base_url}/predictions/{prediction_id}"
        try:
            body = await self._request_json("GET", url, self._timeouts.poll)
        except _NoAnswer as error:
            raise ProviderUnavailable(str(error)) from None
        except _Malformed as error:
            raise ProviderUnavailable(f"unreadable poll response: {error}") from None
        return parse_prediction(body, prediction_id)

    async def wait(
        self,
        prediction_id: str,
        *,
        estimate: Estimate = DEFAULT_ESTIMATE,
        max_seconds: float = 120.0,
        on_progress: ProgressCallback | None = None,
    ) -> Prediction:
        """Poll until the prediction completes (returned) or fails (PredictionFailed).

        Statuses we do not know are treated as still running; transient errors are retried with
        back-off; all of it bounded by `max_seconds` from now.
        """
        started = self._clock()
        deadline = started + max_seconds
        delays = self._schedule.delays(estimate)
        failures = 0
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
                return prediction
            if prediction.status == "failed":
                raise PredictionFailed(prediction.error or "")
            if prediction.status != "processing":
                log.debug("prediction %s has unknown status %r", prediction_id, prediction.status)
            if on_progress is not None:
                await on_progress(self._clock() - started, estimate)
            due += next(delays)

    async def download(self, url: str, request: GenerationRequest) -> GeneratedImage:
        """Fetch an output and prove it is the image we asked for, retrying transient failures
        and bodies that do not decode: the image is paid for, and a broken transfer or an
        error page from the assets host is worth a second look."""
        for attempt in range(1, self._retry.download_attempts + 1):
            try:
                data, content_type = await self._fetch_output(url)
                return await asyncio.to_thread(_check_image, data, content_type, request)
            except (ProviderUnavailable, RateLimited, UndecodableOutput) as error:
                if attempt == self._retry.download_attempts:
                    raise
                wait = error.retry_after or self._retry.backoff(attempt, self._rng)
                log.info("download failed (%s); retrying in %.2fs", error, wait)
                await self._sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")

    async def _fetch_output(self, url: str) -> tuple[bytes, str]:
        # No Authorization header: outputs live on the provider's assets host, and the key is
        # only ever sent to the API itself.
        timeouts = self._timeouts
        timeout = aiohttp.ClientTimeout(total=timeouts.download, connect=timeouts.connect)
        try:
            async with self._session.get(url, timeout=timeout) as response:
                if response.status != 200:
                    raise error_for_status(response.status, "", response.headers)
                declared = response.content_length
                if declared is not None and declared > self._max_output_bytes:
                    raise BadOutput(f"output of {declared} bytes is over the cap")
                chunks, received = [], 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    received += len(chunk)
                    if received > self._max_output_bytes:
                        raise BadOutput(f"output over {self._max_output_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("Content-Type", "")
        except (TimeoutError, aiohttp.ClientError) as error:
            raise ProviderUnavailable(f"download failed: {type(error).__name__}") from None

    async def _request_json(
        self, method: str, url: str, total_timeout: float, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=total_timeout, connect=self._timeouts.connect)
        try:
            async with self._session.request(
                method, url, json=payload, headers=self._auth, timeout=timeout
            ) as response:
                text = await response.text(errors="replace")
                if response.status >= 400:
                    raise error_for_status(response.status, text, response.headers)
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


def _check_image(data: bytes, content_type: str, request: GenerationRequest) -> GeneratedImage:
    """Decode the bytes fully and check they are the format and size that were asked for."""
    declared = content_type.split(";")[0].strip().lower()
    if not declared.startswith("image/"):
        raise UndecodableOutput(f"output has content type {declared or 'none'}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            found_format = _PILLOW_FORMATS.get(image.format or "")
            found_size = image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise UndecodableOutput(f"output does not decode: {type(error).__name__}") from None
    if found_format != request.output_format:
        raise BadOutput(f"asked for {request.output_format}, got {found_format or 'another'}")
    if found_size != request.dimensions:
        raise BadOutput(f"asked for {request.size}, got {found_size[0]}*{found_size[1]}")
    return GeneratedImage(data, request.output_format, found_size[0], found_size[1])

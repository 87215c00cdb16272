"""The API's responses as the client reads them: submissions, predictions and error bodies,
parsed leniently (unknown fields ignored, unusable ones treated as absent)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.polling import DEFAULT_ESTIMATE, Estimate, parse_estimated_time
from bot.vibedream.errors import (
    AuthenticationFailed,
    EndpointNotFound,
    InvalidRequest,
    OutOfCredit,
    PredictionUnknown,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    VibeDreamError,
    redact,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    prediction_id: str
    estimate: Estimate
    cost_cents: int | None  # None when the provider sent no usable figure


@dataclass(frozen=True)
class Prediction:
    prediction_id: str
    status: str
    outputs: list[str]
    error: str | None


Route = Literal["submit", "poll"]


def error_message(text: str, secrets: Iterable[str] = ()) -> str:
    """The provider's error string from a JSON or plain-text body, redacted for logs."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str):
                return redact(value, secrets)
    return redact(text, secrets)


def retry_after_seconds(headers: Any) -> float | None:
    try:
        value = float(headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def error_for_status(
    status: int, text: str, headers: Any, *, route: Route = "submit", secrets: Iterable[str] = ()
) -> VibeDreamError:
    """The error an API answer with this status means, on this route. Downloads from the
    assets host have their own table (outputs.download_error_for_status)."""
    detail = f"{route} HTTP {status}: {error_message(text, secrets)}"
    if status in (401, 403):
        return AuthenticationFailed(detail, status=status)
    if status == 402:
        return OutOfCredit(detail, status=status)
    if status == 404 and route == "poll":
        return PredictionUnknown(detail, status=status)
    if status in (404, 405):
        return EndpointNotFound(detail, status=status)
    if status == 429:
        return RateLimited(detail, status=status, retry_after=retry_after_seconds(headers))
    if status >= 500 or status == 408:
        return ProviderUnavailable(detail, status=status, retry_after=retry_after_seconds(headers))
    return InvalidRequest(detail, status=status)


def parse_submission(body: dict[str, Any]) -> Submission:
    prediction_id = body.get("id")
    cost = body.get("costCents")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise SubmitOutcomeUnknown("submit response without a prediction id")
    if not isinstance(cost, int) or isinstance(cost, bool) or cost < 0:
        log.warning("submit response for %s has no usable costCents: %r", prediction_id, cost)
        cost = None
    return Submission(
        prediction_id=prediction_id,
        estimate=parse_estimated_time(body.get("estimatedTime")) or DEFAULT_ESTIMATE,
        cost_cents=cost,
    )


def parse_prediction(body: dict[str, Any], prediction_id: str) -> Prediction:
    status = body.get("status")
    outputs = body.get("outputs")
    error = body.get("error")
    return Prediction(
        prediction_id=prediction_id,
        status=status if isinstance(status, str) else "unknown",
        outputs=[u for u in outputs if isinstance(u, str)] if isinstance(outputs, list) else [],
        error=error if isinstance(error, str) else None,
    )

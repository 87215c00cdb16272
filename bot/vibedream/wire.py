"""The API's responses as the client reads them: submissions, predictions and error bodies,
parsed leniently (unknown fields ignored, unusable ones treated as absent)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from bot.core.polling import DEFAULT_ESTIMATE, Estimate, parse_estimated_time
from bot.vibedream.errors import (
    AuthenticationFailed,
    InvalidRequest,
    OutOfCredit,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    VibeDreamError,
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


def error_message(text: str) -> str:
    """The provider's error string from a JSON or plain-text body, trimmed for logs."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str):
                return value[:200]
    return " ".join(text.split())[:200]


def retry_after_seconds(headers: Any) -> float | None:
    try:
        value = float(headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def error_for_status(status: int, text: str, headers: Any) -> VibeDreamError:
    detail = f"HTTP {status}: {error_message(text)}"
    if status in (401, 403):
        return AuthenticationFailed(detail, status=status)
    if status == 402:
        return OutOfCredit(detail, status=status)
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

"""Client for the VibeDream Z-Image Turbo API. It knows nothing of Discord or of storage."""

from bot.vibedream.client import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    RetryPolicy,
    Timeouts,
    VibeDreamClient,
)
from bot.vibedream.errors import (
    AuthenticationFailed,
    BadOutput,
    DeadlineExceeded,
    InvalidRequest,
    OutOfCredit,
    PredictionFailed,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    UndecodableOutput,
    VibeDreamError,
)
from bot.vibedream.wire import Prediction, Submission

__all__ = [
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUTS",
    "AuthenticationFailed",
    "BadOutput",
    "DeadlineExceeded",
    "InvalidRequest",
    "OutOfCredit",
    "Prediction",
    "PredictionFailed",
    "ProviderUnavailable",
    "RateLimited",
    "RetryPolicy",
    "Submission",
    "SubmitOutcomeUnknown",
    "Timeouts",
    "UndecodableOutput",
    "VibeDreamClient",
    "VibeDreamError",
]

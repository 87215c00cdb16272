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
    ContentFlagged,
    DeadlineExceeded,
    EndpointNotFound,
    InvalidRequest,
    OutOfCredit,
    OutputMissing,
    PredictionFailed,
    PredictionUnknown,
    ProviderUnavailable,
    RateLimited,
    ReferenceRejected,
    SubmitOutcomeUnknown,
    UndecodableOutput,
    VibeDreamError,
    redact,
)
from bot.vibedream.outputs import DEFAULT_ASSETS_HOSTS, sniff_image_type
from bot.vibedream.wire import Prediction, Submission

__all__ = [
    "DEFAULT_ASSETS_HOSTS",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUTS",
    "AuthenticationFailed",
    "BadOutput",
    "ContentFlagged",
    "DeadlineExceeded",
    "EndpointNotFound",
    "InvalidRequest",
    "OutOfCredit",
    "OutputMissing",
    "Prediction",
    "PredictionFailed",
    "PredictionUnknown",
    "ProviderUnavailable",
    "RateLimited",
    "ReferenceRejected",
    "RetryPolicy",
    "Submission",
    "SubmitOutcomeUnknown",
    "Timeouts",
    "UndecodableOutput",
    "VibeDreamClient",
    "VibeDreamError",
    "redact",
    "sniff_image_type",
]

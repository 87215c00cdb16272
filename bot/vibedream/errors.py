"""Every way a call to the API can fail, as one family of errors.

`user_message` is always our own sentence, safe to show: nothing the provider wrote reaches a
user. `detail` is for logs and the stored ledger, and it passes through `redact` first, so a
URL, a bearer token or a key the provider echoed back is not kept either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.core.texts import N_

DETAIL_LIMIT = 200
_SCAN_LIMIT = 4000  # what redact reads of a body at most, before trimming to DETAIL_LIMIT

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Any URL, scheme and all: hosts, paths and query strings can all be internal.
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]*", re.IGNORECASE), "<url>"),
    # A host with a path but no scheme: "cdn.internal.example/x?sig=...".
    (re.compile(r"\b(?:[\w-]+\.)+[a-z]{2,}(?::\d+)?/[^\s\"'<>]*", re.IGNORECASE), "<url>"),
    (re.compile(r"\b(Bearer|Basic|Token)\s+\S+", re.IGNORECASE), r"\1 <redacted>"),
    # key=..., token: ..., "secret": "..." and the like.
    (
        re.compile(
            r"\b((?:api[_-]?)?keys?|tokens?|access[_-]?tokens?|secrets?|passwords?|passwd"
            r"|signature|sig|auth|authorization|credentials?)(\"?\s*[=:]\s*\"?)"
            r"(?!(?:Bearer|Basic|Token)\b|<)[^\s&\"',;]+",
            re.IGNORECASE,
        ),
        r"\1\2<redacted>",
    ),
    # Vendor-style keys: sk-live-..., pk_test_..., rk-...
    (re.compile(r"\b(?:sk|pk|rk)[-_][A-Za-z0-9_-]+"), "<redacted>"),
    # Runs of 24 or more base64 characters with a digit in them, and of hex digits: keys,
    # signatures, session ids. A UUID's groups are at most 12 long, so prediction ids survive.
    (re.compile(r"(?=[A-Za-z0-9+/_]*\d)[A-Za-z0-9+/_]{24,}=*"), "<redacted>"),
    (re.compile(r"\b[0-9a-fA-F]{24,}\b"), "<redacted>"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` fit for a log line or the ledger: URLs become `<url>`, tokens and keys (and any
    of `secrets`, such as our own API key) become `<redacted>`, whitespace is collapsed and the
    result is at most DETAIL_LIMIT characters."""
    cleaned = " ".join(text[:_SCAN_LIMIT].split())
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, "<redacted>")
    for pattern, replacement in _REDACTIONS:
        cleaned = pattern.sub(replacement, cleaned)
    return cleaned[:DETAIL_LIMIT]


class VibeDreamError(Exception):
    """Base of every API failure. `user_message` is safe to show; `detail` is for logs only."""

    user_message = N_("The image service had a problem. Please try again.")

    def __init__(
        self, detail: str = "", *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.detail = redact(detail)
        super().__init__(self.detail or self.user_message)
        self.status = status
        self.retry_after = retry_after  # seconds the provider asked us to wait, when it said


class InvalidRequest(VibeDreamError):
    """400, 422 and other refusals of the request body."""

    user_message = N_("The image service refused those settings.")


class AuthenticationFailed(VibeDreamError):
    """401 or 403 from the API itself (never from the assets host: see OutputMissing)."""

    user_message = N_("The bot's image service key was refused. Please tell the server owner.")


class OutOfCredit(VibeDreamError):
    user_message = N_("The image service account is out of credit. Please tell the server owner.")


class EndpointNotFound(VibeDreamError):
    """404 or 405 on submit: the base URL or the model's route is wrong, not the settings."""

    user_message = N_(
        "The bot could not find the image service at its configured address. "
        "Please tell the server owner."
    )


class PredictionUnknown(VibeDreamError):
    """404 on a poll: the provider has no (or no longer any) prediction with that id."""

    user_message = N_("The image service has no record of this image any more. Please try again.")


class RateLimited(VibeDreamError):
    user_message = N_("The image service is busy right now. Please try again in a minute.")

    def __init__(
        self, detail: str = "", *, status: int | None = 429, retry_after: float | None = None
    ):
        super().__init__(detail, status=status, retry_after=retry_after)


class ProviderUnavailable(VibeDreamError):
    user_message = N_("The image service is unavailable right now. Please try again shortly.")


class SubmitOutcomeUnknown(ProviderUnavailable):
    """The submit got no usable answer: the prediction may exist and be billed, so it is never
    sent again and its cost is treated as unknown."""


class PredictionFailed(VibeDreamError):
    """The prediction ended `failed`. Build one with `for_reason`, which picks the subclass
    whose sentence is true for the provider's reason; the reason itself is only kept,
    redacted, in `detail` and `reason`."""

    user_message = N_("The image service could not make this image.")

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = self.detail

    @staticmethod
    def for_reason(reason: str) -> PredictionFailed:
        lowered = reason.lower()
        if any(word in lowered for word in _MODERATION_WORDS):
            return ContentFlagged(reason)
        if any(words in lowered for words in _REFERENCE_WORDS):
            return ReferenceRejected(reason)
        return PredictionFailed(reason)


class ContentFlagged(PredictionFailed):
    """The provider's moderation refused the prompt (or the reference image)."""

    user_message = N_(
        "The image service's content filter refused this prompt. Try wording it differently."
    )


class ReferenceRejected(PredictionFailed):
    """The provider could not fetch or read the reference image."""

    user_message = N_(
        "The image service could not use the reference image. "
        "Use a public link to a JPEG, PNG, GIF or WebP."
    )


_MODERATION_WORDS = ("flagged", "moderation", "nsfw", "safety", "content policy")
_REFERENCE_WORDS = ("reference", "input image", "source image", "image url")


class DeadlineExceeded(VibeDreamError):
    user_message = N_("The image took too long to make. Please try again.")


class BadOutput(VibeDreamError):
    """The output cannot be used and downloading it again would not help."""

    user_message = N_("The image service sent back something that was not a usable image.")


class OutputMissing(BadOutput):
    """401, 403, 404 or 410 from the assets host: the file is gone or its link expired. The
    provider's fault, not the bot's key and not the user's settings."""

    user_message = N_("The image service's file for this image is missing or expired.")


class UndecodableOutput(BadOutput):
    """Not an image at all (another content type, corrupt or truncated bytes): worth
    downloading again."""

"""Every way a call to the API can fail, as one family of errors. `user_message` is safe to
show; `detail` is for logs only."""

from __future__ import annotations


class VibeDreamError(Exception):
    """Base of every API failure. `user_message` is safe to show; `detail` is for logs only."""

    user_message = "The image service had a problem. Please try again."

    def __init__(
        self, detail: str = "", *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(detail or self.user_message)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after  # seconds the provider asked us to wait, when it said


class InvalidRequest(VibeDreamError):
    user_message = "The image service refused those settings."


class AuthenticationFailed(VibeDreamError):
    user_message = "The bot's image service key was refused. Please tell the server owner."


class OutOfCredit(VibeDreamError):
    user_message = "The image service account is out of credit. Please tell the server owner."


class RateLimited(VibeDreamError):
    user_message = "The image service is busy right now. Please try again in a minute."

    def __init__(
        self, detail: str = "", *, status: int | None = 429, retry_after: float | None = None
    ):
        super().__init__(detail, status=status)
        self.retry_after = retry_after


class ProviderUnavailable(VibeDreamError):
    user_message = "The image service is unavailable right now. Please try again shortly."

    def __init__(
        self, detail: str = "", *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(detail, status=status)
        self.retry_after = retry_after


class SubmitOutcomeUnknown(ProviderUnavailable):
    """The submit got no usable answer: the prediction may exist and be billed, so it is never
    sent again and its cost is treated as unknown."""


class PredictionFailed(VibeDreamError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def user_message(self) -> str:  # type: ignore[override]
        reason = " ".join(self.reason.split())[:300]
        return f"The image could not be made: {reason}" if reason else super().user_message


class DeadlineExceeded(VibeDreamError):
    user_message = "The image took too long to make. Please try again."


class BadOutput(VibeDreamError):
    user_message = "The image service sent back something that was not a usable image."


class UndecodableOutput(BadOutput):
    """Not an image at all (another content type, corrupt bytes): worth downloading again."""

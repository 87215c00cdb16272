"""Refusals: requests the bot turns down before any money is spent."""

from __future__ import annotations


class Refused(Exception):
    """A request the bot will not run. The message is short and safe to show the requester."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

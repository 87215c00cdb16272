"""Secrets never reach a log line, whoever logs them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_secrets_are_redacted_from_messages_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token in a message, in its arguments or in an exception is replaced before output."""
    token, key = "MTIz.discord-token-secret", "vd-live-secret-key"
    setup_logging("INFO", [token, key])
    log = logging.getLogger("tests.logs")
    log.info("connecting with %s", token)
    try:
        raise RuntimeError(f"Authorization: Bearer {key}")
    except RuntimeError:
        log.exception("request failed")
    output = capsys.readouterr().err
    assert token not in output and key not in output
    assert output.count("[redacted]") == 2
    assert "request failed" in output and "RuntimeError" in output

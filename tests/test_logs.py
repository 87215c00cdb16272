"""Secrets never reach a log line, whoever logs them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import setup_logging
from tests.world import running_world


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
    assert output.count("[redacted]") >= 2  # the traceback's source line is redacted too
    assert "request failed" in output and "RuntimeError" in output


@pytest.mark.usefixtures("restore_logging")
def test_interaction_tokens_are_redacted_wherever_they_appear(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tokens no setting names (in webhook URLs, in payloads, as bearer credentials) are
    redacted too, at every level."""
    token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"
    setup_logging("DEBUG")
    log = logging.getLogger("discord.webhook.async_")
    log.debug("PATCH https://discord.com/api/v10/webhooks/1234/%s/messages/@original", token)
    log.debug("payload %s", {"id": "1", "token": token})
    log.debug("headers Authorization: Bearer %s", token)
    output = capsys.readouterr().err
    assert token not in output and output.count("[redacted]") == 3


@pytest.mark.usefixtures("restore_logging")
async def test_a_whole_job_at_debug_level_logs_no_interaction_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With every logger at DEBUG, a job from command to image leaves no token in the log."""
    setup_logging("DEBUG")
    async with running_world(tmp_path) as world:
        record = await world.imagine(prompt="a fox")
        message = await world.settled(record)
        assert message.attachments
    output = capsys.readouterr().err
    assert record.token not in output
    assert "imagine" in output or "job" in output  # the log did run at DEBUG

"""Logging for the whole process, set up once at start."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Secrets that are not known in advance: interaction tokens (in webhook and callback URLs and
# in payloads) and bearer credentials.
_PATTERNS = (
    (re.compile(r"(/(?:webhooks|interactions)/\d+/)[\w.-]{16,}"), r"\1[redacted]"),
    (
        re.compile(r"""(["']?token["']?\s*[:=]\s*["']?)[\w.-]{16,}""", re.IGNORECASE),
        r"\1[redacted]",
    ),
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1[redacted]"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Replace any secret that slips into a log line, whoever logged it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [secret for secret in secrets if len(secret) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        exc_text = redact(record.exc_text, self._secrets) if record.exc_text else None
        record.msg, record.args, record.exc_text = redact(message, self._secrets), None, exc_text
        return True


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py logs every HTTP request at DEBUG/INFO; keep our own lines readable.
    logging.getLogger("discord.http").setLevel(logging.WARNING)
    logging.getLogger("discord.gateway").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG, interaction tokens included.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)

"""How a result's image is named on Discord, and finding a job's image on a message again."""

from __future__ import annotations

import discord

SPOILER_PREFIX = "SPOILER_"  # Discord hides a file whose name starts so


def result_filename(job_id: int, extension: str, *, spoiler: bool) -> str:
    return f"{SPOILER_PREFIX if spoiler else ''}imagine-{job_id}.{extension}"


def job_attachment(message: discord.Message, job_id: int) -> discord.Attachment | None:
    """The job's image on a result message: the one named after it (a set's message holds
    several), else the only one (for results posted before images were named so)."""
    named = f"imagine-{job_id}."
    for attachment in message.attachments:
        if attachment.filename.removeprefix(SPOILER_PREFIX).startswith(named):
            return attachment
    return message.attachments[0] if len(message.attachments) == 1 else None

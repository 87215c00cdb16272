"""What both adapters write for a new job, in one place."""

from __future__ import annotations

from typing import Any

from bot.core.models import Lease, ReplyPlace, Requester
from bot.core.requests import GenerationRequest


def job_parameters(
    requester: Requester,
    request: GenerationRequest,
    reserved_cents: int,
    now: float,
    reply: ReplyPlace,
    lease: Lease,
) -> tuple[Any, ...]:
    """A job's values for the adapters' INSERT, in its column order, all but its batch_id."""
    return (
        requester.user_id,
        requester.guild_id,
        requester.channel_id,
        request.prompt,
        request.size,
        request.output_format,
        request.seed,
        request.strength if request.image else None,
        request.image,
        request.style_name,
        reserved_cents,
        now,
        reply.kind.value,
        reply.message_id,
        reply.token,
        reply.token_expires_at,
        lease.owner,
        lease.expires_at,
    )

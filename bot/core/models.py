"""The ledger's vocabulary: jobs and their states, who asked, where the reply lives, what a
server has configured, and usage tallies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.requests import GenerationRequest


class JobState(StrEnum):
    RESERVED = "reserved"  # admitted and counted against limits; the API has not been called
    SUBMITTING = "submitting"  # the submit is (or was) on the wire: it may have been billed
    SUBMITTED = "submitted"  # the API accepted it: billed, prediction id known
    COMPLETED = "completed"
    FAILED = "failed"  # ended without an image; any cost stays on the books
    RELEASED = "released"  # ended before the API accepted it: nothing was spent


# States of a job that has not ended: it counts as in progress and holds its reservation.
OPEN_STATES = frozenset({JobState.RESERVED, JobState.SUBMITTING, JobState.SUBMITTED})
FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.RELEASED})


@dataclass(frozen=True)
class Requester:
    """Who asked for a generation, and where."""

    user_id: int
    guild_id: int | None
    channel_id: int


class ReplyKind(StrEnum):
    NONE = "none"  # no reply exists yet
    INTERACTION = "interaction"  # the response to an interaction, edited through its token
    MESSAGE = "message"  # a message the bot posted itself, edited as a bot message


@dataclass(frozen=True)
class ReplyPlace:
    """Where a job's reply is shown: its kind, its message, and for an interaction the token
    that may edit it and when that token expires (Unix time)."""

    kind: ReplyKind = ReplyKind.NONE
    message_id: int | None = None
    token: str | None = None
    token_expires_at: float | None = None

    @classmethod
    def interaction(cls, token: str, expires_at: float) -> ReplyPlace:
        return cls(ReplyKind.INTERACTION, None, token, expires_at)

    @classmethod
    def message(cls, message_id: int) -> ReplyPlace:
        return cls(ReplyKind.MESSAGE, message_id)


NO_REPLY = ReplyPlace()


@dataclass(frozen=True)
class MessageRef:
    """A message in a channel: where a delivered result lives, to link to or fetch again."""

    channel_id: int
    message_id: int


@dataclass(frozen=True)
class Lease:
    """A process's claim on a job until it is delivered: only the holder may write the job,
    and a lease left to expire (its process died) is claimed by a live process."""

    owner: str
    expires_at: float


@dataclass(frozen=True)
class ShardScope:
    """The servers a process answers for: those of its shards (`(guild_id >> 22) % count`);
    direct messages belong to shard 0. No shard ids means every shard."""

    shard_count: int = 1
    shard_ids: frozenset[int] | None = None

    def covers(self, guild_id: int | None) -> bool:
        if self.shard_ids is None:
            return True
        return ((guild_id or 0) >> 22) % self.shard_count in self.shard_ids


EVERY_SHARD = ShardScope()


@dataclass(frozen=True)
class Job:
    id: int
    requester: Requester
    state: JobState
    request: GenerationRequest
    prediction_id: str | None
    reserved_cents: int
    cost_cents: int | None
    error_code: str | None
    error: str | None
    created_at: float
    submitted_at: float | None
    finished_at: float | None
    reply: ReplyPlace
    delivered_at: float | None
    lease: Lease | None = None
    batch_id: int | None = None  # the first job of the set it belongs to, if asked for several
    result_message: MessageRef | None = None  # the delivered image's message, once known


@dataclass(frozen=True)
class GuildSettings:
    """A server's own choices; None means the bot-wide default applies (or no limit)."""

    guild_id: int
    default_size: str | None = None
    default_format: str | None = None
    user_daily_images: int | None = None
    user_cooldown_seconds: int | None = None
    user_max_concurrent: int | None = None
    guild_daily_budget_cents: int | None = None
    guild_monthly_budget_cents: int | None = None
    timezone: str | None = None
    log_channel_id: int | None = None
    exempt_role_id: int | None = None
    # Outside age-restricted channels: None shows results, "spoiler" hides them behind a
    # spoiler, "refuse" makes none there.
    spoiler_policy: str | None = None
    max_images_per_request: int | None = None  # the `count` a member may ask for; None: 4
    # Ask the member to confirm, privately, before one request spends more than this.
    confirm_above_cents: int | None = None
    # Whether members' personal prompt suffixes are appended; None means they are.
    personal_suffixes: bool | None = None


# The settings a moderator may change.
GUILD_SETTING_FIELDS = frozenset(
    name for name in GuildSettings.__dataclass_fields__ if name != "guild_id"
)


@dataclass(frozen=True)
class GuildConfig:
    """Everything a server has configured: its settings, channels and blocked terms."""

    settings: GuildSettings
    channel_ids: frozenset[int]
    blocked_terms: tuple[str, ...]


@dataclass(frozen=True)
class Tally:
    images: int  # completed
    generations: int  # every job that reached the API or may have (failed ones included)
    cents: int


@dataclass(frozen=True)
class MemberTotal:
    user_id: int
    tally: Tally


@dataclass(frozen=True)
class PromptChoice:
    """A prompt a member may reuse: one of their favourites, or one they used recently."""

    prompt: str
    favourite: bool


@dataclass(frozen=True)
class GalleryEntry:
    """A delivered result, for the gallery: whose, what, when, and where it is shown."""

    job_id: int
    user_id: int
    prompt: str
    created_at: float
    result: MessageRef


@dataclass(frozen=True)
class Style:
    """A server's named prompt template: `{prompt}` marks where the member's words go."""

    guild_id: int
    name: str  # as the moderator wrote it; unique per server whatever the case
    template: str
    default_size: str | None = None

    @property
    def key(self) -> str:
        return style_key(self.name)


def style_key(name: str) -> str:
    """What makes two style names the same: case is ignored."""
    return name.casefold()


@dataclass(frozen=True)
class MemberPreferences:
    """A member's own defaults in one server; None means the server's (or none)."""

    size: str | None = None
    output_format: str | None = None
    count: int | None = None
    suffix: str | None = None  # appended to each prompt, where the server allows it
    option_sets: Mapping[str, str] = field(default_factory=dict)  # `--name` -> its text


NO_PREFERENCES = MemberPreferences()
# The preferences a member may set one by one (option sets have their own calls).
PREFERENCE_FIELDS = frozenset({"size", "output_format", "count", "suffix"})

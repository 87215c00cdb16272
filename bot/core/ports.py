"""What the core needs from storage. Each engine's adapter under `bot.storage` implements
these; the core and the cogs see only the protocols."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from bot.core.limits import Usage
from bot.core.models import (
    GalleryEntry,
    GuildConfig,
    Job,
    JobState,
    Lease,
    MemberPreferences,
    MemberTotal,
    MessageRef,
    PromptChoice,
    ReplyPlace,
    Requester,
    ShardScope,
    Style,
    Tally,
)
from bot.core.requests import GenerationRequest

# Refuses (by raising) a job that the usage at the moment of admission does not leave room for.
AdmissionCheck = Callable[[Usage], None]


class StorageUnavailable(Exception):
    """The database could not be read or written (locked, full, unreachable). Adapters raise
    this for every failure of their driver, so the core can act on it without knowing one."""


class JobLedger(Protocol):
    """Every generation, recorded before the API is called and settled on every path out.
    Writes that name an `owner` happen only while that owner holds the job's lease, and say
    whether they did."""

    async def reserve_jobs(
        self,
        requester: Requester,
        requests: Sequence[GenerationRequest],
        *,
        reserved_cents: int,
        counted_since: tuple[float, float],
        admit: AdmissionCheck,
        reply: ReplyPlace,
        lease: Lease,
    ) -> list[Job]:
        """Atomically: read the usage counted from the Unix times `counted_since` (the start
        of the day and of the month), let `admit` refuse, else insert one job per request as
        reserved (each at `reserved_cents`) under `lease`; several make a set, each carrying
        the first one's id as `batch_id`. Concurrent calls for one server are serialised, so
        none can overshoot a limit."""
        ...

    async def mark_submitting(self, job_id: int, owner: str) -> bool:
        """reserved -> submitting, written before the submit is sent."""
        ...

    async def mark_submitted(
        self, job_id: int, owner: str, prediction_id: str, cost_cents: int | None
    ) -> bool:
        """submitting -> submitted, with what the API said."""
        ...

    async def settle(
        self,
        job_id: int,
        owner: str,
        state: JobState,
        *,
        error_code: str | None = None,
        error: str | None = None,
    ) -> bool:
        """End an open job; released jobs cost nothing, others keep their recorded cost (or,
        when none is known, count what was reserved)."""
        ...

    async def get_job(self, job_id: int) -> Job | None: ...

    async def jobs_in_batch(self, batch_id: int) -> list[Job]:
        """The jobs of one set, in the order they were asked for."""
        ...

    async def jobs_in_flight(self) -> list[Job]:
        """Jobs not yet ended, oldest first."""
        ...

    async def undelivered_jobs(self, *, since: float) -> list[Job]:
        """Jobs created since `since` whose requester has not seen how they ended."""
        ...

    async def renew_leases(
        self, owner: str, job_ids: Collection[int], expires_at: float
    ) -> set[int]:
        """Extend the owner's leases on these jobs; returns the ids it still holds."""
        ...

    async def claim_jobs(
        self,
        owner: str,
        scope: ShardScope,
        *,
        expired_before: float,
        expires_at: float,
        limit: int,
    ) -> list[Job]:
        """Take over undelivered jobs in `scope` whose lease expired before `expired_before`,
        oldest first. Each job is claimed by one caller only, however many ask at once."""
        ...

    async def set_reply(self, job_id: int, reply: ReplyPlace) -> None: ...

    async def mark_delivered(
        self, job_id: int, owner: str, *, result: MessageRef | None = None
    ) -> None:
        """The requester has seen the outcome: forget the token, end the lease; with `result`,
        remember the message showing the image."""
        ...

    async def total_charged_cents(self) -> int: ...


class UsageReader(Protocol):
    """Read-only tallies for usage reports."""

    async def tally(
        self, guild_id: int | None, *, user_id: int | None = None, since: float = 0.0
    ) -> Tally: ...

    async def last_job_at(self, guild_id: int | None, user_id: int) -> float | None: ...

    async def top_members(
        self, guild_id: int, *, since: float, limit: int = 10
    ) -> list[MemberTotal]: ...

    async def job_times(self, guild_id: int, *, since: float) -> list[tuple[float, bool, int]]:
        """(created_at, completed, charged cents) of a server's jobs since `since`."""
        ...


class HistoryStore(Protocol):
    """What members made and kept: prompts to offer again, favourites, delivered results."""

    async def prompt_history(
        self, guild_id: int, user_id: int, *, containing: str, recent: int, longest: int, limit: int
    ) -> list[PromptChoice]:
        """The member's distinct prompts in this server, at most `longest` characters, holding
        `containing` (whatever its case): their favourites first, then those of their last
        `recent` jobs, the most recently used first within each, at most `limit`."""
        ...

    async def toggle_favourite(self, user_id: int, job_id: int) -> bool:
        """Add the job to the member's favourites, or remove it if it was one; returns whether
        it is a favourite now (False for an unknown job)."""
        ...

    async def forget_result_messages(self, message_ids: Collection[int]) -> int:
        """These messages were deleted: any result they showed is no longer listed or shown.
        Returns how many jobs lost their message."""
        ...

    async def gallery(
        self,
        guild_id: int,
        *,
        user_id: int | None,
        channel_ids: Collection[int] | None,
        offset: int,
        limit: int,
    ) -> list[GalleryEntry]:
        """Completed results delivered in this server whose message is known, newest first,
        skipping `offset`: only `user_id`'s if given, only those shown in `channel_ids` if
        given."""
        ...


class GuildConfigStore(Protocol):
    """What each server has configured. Reads are uncached here: `GuildPolicy` caches."""

    async def load_guild_config(self, guild_id: int) -> GuildConfig: ...

    async def update_guild_settings(self, guild_id: int, changes: Mapping[str, object]) -> None:
        """Set some settings (names from GUILD_SETTING_FIELDS); None returns one to default."""
        ...

    async def set_channel_allowed(self, guild_id: int, channel_id: int, allowed: bool) -> bool:
        """Add or remove an allowed channel; False when nothing changed."""
        ...

    async def set_term_blocked(self, guild_id: int, term: str, blocked: bool) -> bool:
        """Add or remove a blocked term; False when nothing changed."""
        ...


class StyleStore(Protocol):
    """A server's styles (names matched whatever their case) and its channels' defaults."""

    async def list_styles(self, guild_id: int) -> list[Style]:
        """Every style of the server, by name."""
        ...

    async def get_style(self, guild_id: int, name: str) -> Style | None: ...

    async def create_style(self, style: Style) -> bool:
        """Add a style; False (and nothing changed) when the server has one of that name."""
        ...

    async def update_style(self, style: Style) -> bool:
        """Change the template and default size of the style of that name; False if none."""
        ...

    async def delete_style(self, guild_id: int, name: str) -> bool:
        """Remove a style, and with it any channel default it was; False if none."""
        ...

    async def set_channel_style(self, guild_id: int, channel_id: int, name: str | None) -> None:
        """Make an existing style a channel's default, or (None) give the channel none."""
        ...

    async def channel_style(self, guild_id: int, channel_id: int) -> Style | None:
        """The channel's default style, if it has one."""
        ...

    async def channel_styles(self, guild_id: int) -> dict[int, str]:
        """The server's channels that have a default style, and its name."""
        ...


class PreferenceStore(Protocol):
    """Each member's own defaults, per server."""

    async def load_preferences(self, guild_id: int, user_id: int) -> MemberPreferences: ...

    async def update_preferences(
        self, guild_id: int, user_id: int, changes: Mapping[str, object]
    ) -> None:
        """Set some preferences (names from PREFERENCE_FIELDS); None clears one."""
        ...

    async def clear_preferences(self, guild_id: int, user_id: int) -> bool:
        """Forget the member's preferences and option sets; False if there were none."""
        ...

    async def set_option_set(self, guild_id: int, user_id: int, name: str, value: str) -> None:
        """Add an option set, or replace the text of the one of that name."""
        ...

    async def delete_option_set(self, guild_id: int, user_id: int, name: str) -> bool: ...


class BotState(Protocol):
    """Small named values the bot keeps between runs (the command-sync fingerprint)."""

    async def get_state(self, key: str) -> str | None: ...

    async def set_state(self, key: str, value: str) -> None: ...

    async def take_identify_turn(self) -> None:
        """Return once this process may open a gateway session: across every process that
        shares the database, sessions start at least 5 s apart, as Discord requires."""
        ...


class Storage(
    JobLedger,
    UsageReader,
    HistoryStore,
    GuildConfigStore,
    StyleStore,
    PreferenceStore,
    BotState,
    Protocol,
):
    """One engine's adapter: every port, its schema, and a way to let go of its connections."""

    # True where no other process can be using the database while this one runs (SQLite).
    one_process_only: bool

    async def schema_version(self) -> int: ...

    async def listen_guild_changes(self, callback: Callable[[int], None]) -> None:
        """Call `callback(guild_id)` whenever any process changes a server's configuration,
        so that every process's cache forgets it; returns once listening."""
        ...

    async def migrate(self) -> int:
        """Apply every numbered migration not yet applied, each once; returns the version."""
        ...

    async def close(self) -> None: ...

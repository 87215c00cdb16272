"""What every storage adapter must do, whatever its engine: run against each of them."""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import pytest

from bot.core.limits import LimitReached, Usage
from bot.core.models import (
    NO_REPLY,
    GuildSettings,
    JobState,
    Lease,
    MemberPreferences,
    MessageRef,
    PromptChoice,
    ReplyKind,
    ReplyPlace,
    Requester,
    ShardScope,
    Style,
)
from bot.core.ports import Storage
from bot.core.requests import GenerationRequest
from tests.storage.conftest import OpenStorage

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
BOB = Requester(user_id=2, guild_id=10, channel_id=100)
REQUEST = GenerationRequest(prompt="a red fox", seed=42)
OWNER = "process-a"
LEASE = Lease(OWNER, time.time() + 3600)


def admit_all(usage: Usage) -> None:
    """An admission check with no limits."""


async def reserve(
    storage: Storage,
    requester: Requester = ALICE,
    *,
    cents: int = 1,
    reply: ReplyPlace = NO_REPLY,
) -> int:
    [job] = await storage.reserve_jobs(
        requester,
        [REQUEST],
        reserved_cents=cents,
        counted_since=(0.0, 0.0),
        admit=admit_all,
        reply=reply,
        lease=LEASE,
    )
    return job.id


async def submit(storage: Storage, job_id: int, cost: int = 1) -> None:
    """Write-ahead, then the API's answer, as the runner records a submit."""
    assert await storage.mark_submitting(job_id, OWNER)
    assert await storage.mark_submitted(job_id, OWNER, f"pred-{job_id}", cost)


async def test_migrations_apply_once_and_are_recorded(open_adapter: OpenStorage) -> None:
    """Opening the same database again applies nothing the second time and keeps the data."""
    first = await open_adapter()
    version = await first.schema_version()
    job_id = await reserve(first)
    second = await open_adapter()
    assert version >= 1
    assert await second.schema_version() == version
    assert await second.migrate() == version
    assert await second.get_job(job_id) == await first.get_job(job_id)


async def test_job_life_cycle_keeps_the_cost(storage: Storage) -> None:
    """reserved -> submitted -> completed records the prediction id, the cost and timestamps."""
    job_id = await reserve(storage)
    job = await storage.get_job(job_id)
    assert job is not None and job.state is JobState.RESERVED and job.cost_cents is None
    await submit(storage, job_id, 3)
    await storage.settle(job_id, OWNER, JobState.COMPLETED)
    settled = await storage.get_job(job_id)
    assert settled is not None
    assert settled.state is JobState.COMPLETED
    assert (settled.prediction_id, settled.cost_cents) == (f"pred-{job_id}", 3)
    assert await storage.total_charged_cents() == 3
    assert settled.request == REQUEST
    assert settled.submitted_at is not None and settled.finished_at is not None


async def test_released_jobs_cost_nothing_and_unknown_costs_count_the_reservation(
    storage: Storage,
) -> None:
    """A job the API never took is free; one whose submit went unanswered counts as reserved."""
    never_sent = await reserve(storage, cents=2)
    await storage.settle(never_sent, OWNER, JobState.RELEASED, error_code="OutOfCredit")
    unanswered = await reserve(storage, cents=2)
    await storage.settle(unanswered, OWNER, JobState.FAILED, error_code="SubmitOutcomeUnknown")
    assert await storage.total_charged_cents() == 2
    assert await storage.jobs_in_flight() == []


async def test_a_settled_job_is_not_settled_again(storage: Storage) -> None:
    """Settling is final: a late second outcome cannot rewrite the first."""
    job_id = await reserve(storage)
    await submit(storage, job_id, 1)
    await storage.settle(job_id, OWNER, JobState.FAILED, error_code="PredictionFailed")
    await storage.settle(job_id, OWNER, JobState.COMPLETED)
    settled = await storage.get_job(job_id)
    assert settled is not None and settled.state is JobState.FAILED


async def test_settle_refuses_a_state_that_is_not_final(storage: Storage) -> None:
    """Only completed, failed and released end a job."""
    job_id = await reserve(storage)
    with pytest.raises(ValueError, match="not a final state"):
        await storage.settle(job_id, OWNER, JobState.SUBMITTED)


async def test_admission_is_exact_under_concurrency(open_adapter: OpenStorage) -> None:
    """200 requests at once through two connections against a budget of 50 cents: exactly 50
    are recorded, and every other one is refused by the check, in every round."""
    connections = [await open_adapter(), await open_adapter()]
    budget = 50

    def within_budget(usage: Usage) -> None:
        if usage.guild_cents_today + 1 > budget:
            raise LimitReached("budget spent")

    for round_number in range(3):
        guild = Requester(user_id=1, guild_id=1000 + round_number, channel_id=100)

        async def one(index: int, guild: Requester = guild) -> bool:
            try:
                await connections[index % 2].reserve_jobs(
                    guild,
                    [REQUEST],
                    reserved_cents=1,
                    counted_since=(0.0, 0.0),
                    admit=within_budget,
                    reply=NO_REPLY,
                    lease=LEASE,
                )
            except LimitReached:
                return False
            return True

        admitted = await asyncio.gather(*(one(index) for index in range(200)))
        assert sum(admitted) == budget
        tally = await connections[0].tally(guild.guild_id)
        assert tally.cents == budget


async def test_admission_sees_the_usage_it_is_asked_about(storage: Storage) -> None:
    """The check sees the member's jobs today, last job, jobs in progress and the server's
    spending; released jobs do not count."""
    kept = await reserve(storage, cents=2)
    await submit(storage, kept, 3)
    released = await reserve(storage, cents=2)
    await storage.settle(released, OWNER, JobState.RELEASED)
    await reserve(storage, BOB, cents=1)
    seen: list[Usage] = []

    def look(usage: Usage) -> None:
        seen.append(usage)
        raise LimitReached("just looking")

    with pytest.raises(LimitReached):
        await storage.reserve_jobs(
            ALICE,
            [REQUEST],
            reserved_cents=1,
            counted_since=(0.0, 0.0),
            admit=look,
            reply=NO_REPLY,
            lease=LEASE,
        )
    [usage] = seen
    assert usage.user_jobs_today == 1 and usage.user_jobs_in_flight == 1
    assert usage.user_last_job_at is not None
    assert usage.guild_cents_today == usage.guild_cents_this_month == 3 + 1
    assert len(await storage.jobs_in_flight()) == 2  # a refusal recorded nothing


async def test_a_set_is_recorded_together_or_not_at_all(storage: Storage) -> None:
    """Several images of one request: one admission, each job knowing its set."""
    requests = [REQUEST.model_copy(update={"seed": seed}) for seed in (7, 8, 9)]
    seen: list[Usage] = []

    def refuse(usage: Usage) -> None:
        seen.append(usage)
        raise LimitReached("no room")

    with pytest.raises(LimitReached):
        await storage.reserve_jobs(
            ALICE,
            requests,
            reserved_cents=2,
            counted_since=(0.0, 0.0),
            admit=refuse,
            reply=NO_REPLY,
            lease=LEASE,
        )
    assert len(seen) == 1 and await storage.total_charged_cents() == 0

    jobs = await storage.reserve_jobs(
        ALICE,
        requests,
        reserved_cents=2,
        counted_since=(0.0, 0.0),
        admit=admit_all,
        reply=NO_REPLY,
        lease=LEASE,
    )
    first = jobs[0].id
    assert [job.batch_id for job in jobs] == [first] * 3
    assert [job.request.seed for job in jobs] == [7, 8, 9]
    assert await storage.jobs_in_batch(first) == jobs
    assert await storage.total_charged_cents() == 6
    alone = await reserve(storage)
    assert (await storage.get_job(alone)).batch_id is None  # type: ignore[union-attr]
    assert await storage.jobs_in_batch(alone) == []


async def test_recovery_queries_find_open_and_undelivered_jobs(storage: Storage) -> None:
    """Open jobs are in flight; a job is undelivered until marked, which forgets its token."""
    token_reply = ReplyPlace.interaction("token-1", 2_000_000_000.0)
    first = await reserve(storage, reply=token_reply)
    second = await reserve(storage)
    await submit(storage, second, 1)
    await storage.settle(second, OWNER, JobState.COMPLETED)
    assert [job.id for job in await storage.jobs_in_flight()] == [first]
    assert [job.id for job in await storage.undelivered_jobs(since=0)] == [first, second]
    await storage.mark_delivered(first, OWNER)
    [left] = await storage.undelivered_jobs(since=0)
    assert left.id == second
    delivered = await storage.get_job(first)
    assert delivered is not None and delivered.reply.token is None
    assert await storage.undelivered_jobs(since=left.created_at + 1) == []


async def test_a_reply_place_keeps_its_kind(storage: Storage) -> None:
    """Where a reply lives comes back exactly as it was written, kind included."""
    job_id = await reserve(storage, reply=ReplyPlace.interaction("tok", 123.5))
    job = await storage.get_job(job_id)
    assert job is not None and job.reply == ReplyPlace(ReplyKind.INTERACTION, None, "tok", 123.5)
    await storage.set_reply(job_id, ReplyPlace.message(777))
    job = await storage.get_job(job_id)
    assert job is not None and job.reply == ReplyPlace(ReplyKind.MESSAGE, 777)


async def test_usage_tallies(storage: Storage) -> None:
    """Tallies count images, generations and cents per server and member, and rank members."""
    done = await reserve(storage)
    await submit(storage, done, 2)
    await storage.settle(done, OWNER, JobState.COMPLETED)
    failed = await reserve(storage, BOB, cents=4)
    await storage.settle(failed, OWNER, JobState.FAILED)
    await storage.settle(await reserve(storage, BOB), OWNER, JobState.RELEASED)
    server = await storage.tally(10)
    assert (server.images, server.generations, server.cents) == (1, 2, 6)
    alice = await storage.tally(10, user_id=1)
    assert (alice.images, alice.generations, alice.cents) == (1, 1, 2)
    top = await storage.top_members(10, since=0)
    assert [(member.user_id, member.tally.cents) for member in top] == [(2, 4), (1, 2)]
    assert await storage.last_job_at(10, 1) is not None
    times = await storage.job_times(10, since=0)
    assert sorted((completed, cents) for _, completed, cents in times) == [(False, 4), (True, 2)]
    assert (await storage.tally(None)).generations == 0


async def test_guild_configuration_round_trips(storage: Storage) -> None:
    """Settings, channels and blocked terms are stored and read back; changes say if anything
    changed."""
    await storage.update_guild_settings(10, {"user_daily_images": 5, "timezone": "Europe/Paris"})
    await storage.update_guild_settings(10, {"user_daily_images": None})
    assert await storage.set_channel_allowed(10, 555, True)
    assert not await storage.set_channel_allowed(10, 555, True)
    assert await storage.set_term_blocked(10, "Wolf", True)
    config = await storage.load_guild_config(10)
    assert config.settings == GuildSettings(10, timezone="Europe/Paris")
    assert config.channel_ids == frozenset({555}) and config.blocked_terms == ("wolf",)
    assert await storage.set_term_blocked(10, "wolf", False)
    assert not await storage.set_channel_allowed(10, 556, False)
    assert (await storage.load_guild_config(11)).settings == GuildSettings(11)


async def test_a_boolean_setting_reads_back_as_one(storage: Storage) -> None:
    """personal_suffixes comes back as False, not as a number that happens to be falsy."""
    await storage.update_guild_settings(10, {"personal_suffixes": False})
    assert (await storage.load_guild_config(10)).settings.personal_suffixes is False


async def test_styles_are_kept_per_server_whatever_the_case(storage: Storage) -> None:
    """A style is found by any casing of its name, in its own server only; a second one of the
    same name is refused; edits change the template and size; a list comes back by name."""
    noir = Style(10, "Film Noir", "{prompt}, black and white", "1280*720")
    assert await storage.create_style(noir)
    assert not await storage.create_style(Style(10, "film noir", "{prompt}"))
    assert await storage.create_style(Style(10, "anime", "{prompt}, anime"))
    assert await storage.create_style(Style(11, "film noir", "{prompt}, other server"))
    assert await storage.get_style(10, "FILM NOIR") == noir
    assert await storage.get_style(12, "film noir") is None

    edited = Style(10, "Film Noir", "{prompt}, grainy", None)
    assert await storage.update_style(edited)
    assert not await storage.update_style(Style(10, "missing", "{prompt}"))
    assert [style.name for style in await storage.list_styles(10)] == ["anime", "Film Noir"]
    assert await storage.get_style(10, "film noir") == edited


async def test_a_channel_default_style_goes_with_its_style(storage: Storage) -> None:
    """A channel's default is read back (and replaced); deleting the style clears it."""
    await storage.create_style(Style(10, "Noir", "{prompt}, noir"))
    await storage.create_style(Style(10, "Anime", "{prompt}, anime"))
    await storage.set_channel_style(10, 100, "noir")
    await storage.set_channel_style(10, 100, "ANIME")
    await storage.set_channel_style(10, 101, "Noir")
    assert (await storage.channel_style(10, 100)) == Style(10, "Anime", "{prompt}, anime")
    assert await storage.channel_styles(10) == {100: "Anime", 101: "Noir"}

    assert await storage.delete_style(10, "noir")
    assert not await storage.delete_style(10, "noir")
    assert await storage.channel_style(10, 101) is None
    await storage.set_channel_style(10, 100, None)
    assert await storage.channel_styles(10) == {}


async def test_member_preferences_round_trip(storage: Storage) -> None:
    """Preferences and option sets are kept per member and server, changed one by one, and
    cleared together."""
    assert await storage.load_preferences(10, 1) == MemberPreferences()
    await storage.update_preferences(10, 1, {"size": "768*768", "count": 3})
    await storage.update_preferences(10, 1, {"suffix": "soft light", "count": None})
    await storage.set_option_set(10, 1, "mine", "--ar 16:9 cinematic")
    await storage.set_option_set(10, 1, "mine", "--ar 9:16 moody")
    await storage.set_option_set(10, 1, "wide", "--ar 16:9")
    await storage.set_option_set(10, 2, "other", "someone else's")

    assert await storage.load_preferences(10, 1) == MemberPreferences(
        size="768*768",
        suffix="soft light",
        option_sets={"mine": "--ar 9:16 moody", "wide": "--ar 16:9"},
    )
    assert await storage.load_preferences(11, 1) == MemberPreferences()
    assert await storage.delete_option_set(10, 1, "wide")
    assert not await storage.delete_option_set(10, 1, "wide")
    assert await storage.clear_preferences(10, 1)
    assert not await storage.clear_preferences(10, 1)
    assert await storage.load_preferences(10, 1) == MemberPreferences()
    assert (await storage.load_preferences(10, 2)).option_sets == {"other": "someone else's"}


async def test_a_job_keeps_the_style_it_was_composed_with(storage: Storage) -> None:
    """The style's name is recorded with the job and read back with its request."""
    [job] = await storage.reserve_jobs(
        ALICE,
        [REQUEST.model_copy(update={"style_name": "Noir"})],
        reserved_cents=1,
        counted_since=(0.0, 0.0),
        admit=admit_all,
        reply=NO_REPLY,
        lease=LEASE,
    )
    stored = await storage.get_job(job.id)
    assert stored is not None and stored.request.style_name == "Noir"
    plain = await storage.get_job(await reserve(storage))
    assert plain is not None and plain.request.style_name is None


async def test_bot_state_round_trips(storage: Storage) -> None:
    """Named values are kept and replaced."""
    assert await storage.get_state("k") is None
    await storage.set_state("k", "one")
    await storage.set_state("k", "two")
    assert await storage.get_state("k") == "two"


async def test_concurrent_writers_never_fail(open_adapter: OpenStorage) -> None:
    """Two connections (as two processes would have) writing 400 jobs each at once all land."""
    writers = [await open_adapter(), await open_adapter()]

    async def write_jobs(storage: Storage, user_id: int) -> None:
        for _ in range(100):
            requester = Requester(user_id=user_id, guild_id=10, channel_id=100)
            job_id = await reserve(storage, requester)
            await submit(storage, job_id)
            await storage.settle(job_id, OWNER, JobState.COMPLETED)

    await asyncio.gather(*(write_jobs(db, user) for user in range(4) for db in writers))
    assert await writers[0].total_charged_cents() == 800


async def test_a_submit_on_the_wire_is_counted_as_spent(storage: Storage) -> None:
    """Write-ahead: a job marked submitting counts its reservation and stays in flight until
    it is settled; settled without a known cost, it still counts."""
    job_id = await reserve(storage, cents=3)
    assert await storage.mark_submitting(job_id, OWNER)
    assert not await storage.mark_submitting(job_id, OWNER)  # only from reserved
    job = await storage.get_job(job_id)
    assert job is not None and job.state is JobState.SUBMITTING
    assert await storage.total_charged_cents() == 3
    assert [job.id for job in await storage.jobs_in_flight()] == [job_id]
    assert await storage.settle(job_id, OWNER, JobState.FAILED, error_code="OutcomeUnknown")
    assert await storage.total_charged_cents() == 3


async def test_only_the_lease_holder_writes_a_job(storage: Storage) -> None:
    """Another owner's writes change nothing and say so."""
    job_id = await reserve(storage)
    assert not await storage.mark_submitting(job_id, "process-b")
    assert not await storage.settle(job_id, "process-b", JobState.RELEASED)
    await storage.mark_delivered(job_id, "process-b")
    job = await storage.get_job(job_id)
    assert job is not None and job.state is JobState.RESERVED and job.delivered_at is None


async def test_in_progress_counts_only_jobs_whose_lease_is_alive(storage: Storage) -> None:
    """A job whose process died (lease expired) does not hold its member's place."""
    dead = Lease("process-dead", time.time() - 1)
    await storage.reserve_jobs(
        ALICE,
        [REQUEST],
        reserved_cents=1,
        counted_since=(0.0, 0.0),
        admit=admit_all,
        reply=NO_REPLY,
        lease=dead,
    )
    await reserve(storage)
    seen: list[Usage] = []

    def look(usage: Usage) -> None:
        seen.append(usage)

    await storage.reserve_jobs(
        ALICE,
        [REQUEST],
        reserved_cents=1,
        counted_since=(0.0, 0.0),
        admit=look,
        reply=NO_REPLY,
        lease=LEASE,
    )
    assert seen[0].user_jobs_in_flight == 1


async def test_expired_leases_are_claimed_exactly_once(open_adapter: OpenStorage) -> None:
    """Four claimers racing over 60 orphaned jobs take each exactly once; live leases and
    delivered jobs are left alone; renewal keeps what the owner still holds."""
    connections = [await open_adapter() for _ in range(4)]
    storage = connections[0]
    dead = Lease("process-dead", time.time() - 1)
    orphans = []
    for _ in range(60):
        [job] = await storage.reserve_jobs(
            ALICE,
            [REQUEST],
            reserved_cents=1,
            counted_since=(0.0, 0.0),
            admit=admit_all,
            reply=NO_REPLY,
            lease=dead,
        )
        orphans.append(job.id)
    live = await reserve(storage)
    delivered = await reserve(storage)
    await storage.mark_delivered(delivered, OWNER)

    async def claim(index: int) -> list[int]:
        taken: list[int] = []
        while True:
            jobs = await connections[index].claim_jobs(
                f"claimer-{index}",
                ShardScope(),
                expired_before=time.time(),
                expires_at=time.time() + 60,
                limit=7,
            )
            if not jobs:
                return taken
            taken += [job.id for job in jobs]

    claims = await asyncio.gather(*(claim(index) for index in range(4)))
    everything = sorted(job_id for taken in claims for job_id in taken)
    assert everything == orphans
    reclaimed = await storage.get_job(orphans[0])
    assert reclaimed is not None and reclaimed.lease is not None
    assert reclaimed.lease.owner.startswith("claimer-")
    assert await storage.renew_leases(OWNER, {live, orphans[0]}, time.time() + 60) == {live}
    # A lone process at start takes every undelivered job, whatever its lease says.
    taken = await storage.claim_jobs(
        "lone", ShardScope(), expired_before=math.inf, expires_at=time.time() + 60, limit=100
    )
    assert sorted(job.id for job in taken) == sorted([*orphans, live])


async def test_claims_keep_to_the_shards_asked_for(storage: Storage) -> None:
    """A process serving shard 1 of 2 claims that shard's servers' jobs only."""
    dead = Lease("process-dead", time.time() - 1)
    for guild_id in (0 << 22, 1 << 22, 2 << 22, 3 << 22):
        await storage.reserve_jobs(
            Requester(1, guild_id, 100),
            [REQUEST],
            reserved_cents=1,
            counted_since=(0.0, 0.0),
            admit=admit_all,
            reply=NO_REPLY,
            lease=dead,
        )
    scope = ShardScope(shard_count=2, shard_ids=frozenset({1}))
    jobs = await storage.claim_jobs(
        "me", scope, expired_before=time.time(), expires_at=time.time() + 60, limit=10
    )
    assert sorted(job.requester.guild_id or 0 for job in jobs) == [1 << 22, 3 << 22]
    assert all(scope.covers(job.requester.guild_id) for job in jobs)


async def test_gateway_sessions_start_apart_across_processes(open_adapter: OpenStorage) -> None:
    """Turns to open a gateway session are spaced out across every connection to the
    database: three takers, each at least the spacing after the one before."""
    first = await open_adapter()
    # On PostgreSQL each connection stands for another process; an SQLite file has one.
    others = [first, first] if first.one_process_only else [await open_adapter() for _ in "ab"]
    takers = [first, *others]
    for taker in takers:
        taker.identify_spacing = 0.3  # type: ignore[attr-defined]  # Discord's is 5 s
    started = time.monotonic()
    turns: list[float] = []

    async def take(storage: Storage) -> None:
        await storage.take_identify_turn()
        turns.append(time.monotonic() - started)

    await asyncio.gather(*(take(taker) for taker in takers))
    turns.sort()
    assert turns[0] < 0.25
    assert all(later - earlier >= 0.28 for earlier, later in itertools.pairwise(turns))


async def made(
    storage: Storage,
    prompt: str,
    requester: Requester = ALICE,
    *,
    state: JobState = JobState.COMPLETED,
    shown: MessageRef | None = None,
) -> int:
    """A job for `prompt` that ended in `state` and was delivered, its image shown in `shown`."""
    [job] = await storage.reserve_jobs(
        requester,
        [GenerationRequest(prompt=prompt, seed=1)],
        reserved_cents=1,
        counted_since=(0.0, 0.0),
        admit=admit_all,
        reply=NO_REPLY,
        lease=LEASE,
    )
    await submit(storage, job.id)
    await storage.settle(job.id, OWNER, state)
    await storage.mark_delivered(job.id, OWNER, result=shown)
    return job.id


async def test_delivery_remembers_the_result_message(storage: Storage) -> None:
    """The message showing a delivered image is kept with its job; a job delivered without
    one has none, and a second delivery note without one does not forget it."""
    shown = MessageRef(channel_id=100, message_id=5000)
    with_image = await made(storage, "a kite", shown=shown)
    without = await made(storage, "a kite", state=JobState.FAILED)
    await storage.mark_delivered(with_image, OWNER)
    kept, failed = await storage.get_job(with_image), await storage.get_job(without)
    assert kept is not None and kept.result_message == shown
    assert failed is not None and failed.result_message is None


async def history(storage: Storage, typed: str, **bounds: int) -> list[PromptChoice]:
    limits = {"recent": 500, "longest": 100, "limit": 25, **bounds}
    return await storage.prompt_history(
        ALICE.guild_id or 0, ALICE.user_id, containing=typed, **limits
    )


async def test_prompt_history_is_the_members_own_favourites_first(storage: Storage) -> None:
    """Alice is offered her favourites (one of Bob's results among them), then her own recent
    prompts, once each, matched whatever the case; never Bob's own prompts, nor hers from
    another server."""
    await made(storage, "a blue cat")
    fox = await made(storage, "a red fox")
    await made(storage, "A Black Cat")
    await made(storage, "a red fox")
    await made(storage, "a cat from elsewhere", Requester(ALICE.user_id, 11, 100))
    await made(storage, "bob's cat", BOB)
    bobs_favourite = await made(storage, "a green cat", BOB)
    assert await storage.toggle_favourite(ALICE.user_id, bobs_favourite)
    assert await storage.toggle_favourite(ALICE.user_id, fox)

    assert await history(storage, "") == [
        PromptChoice("a red fox", True),
        PromptChoice("a green cat", True),
        PromptChoice("A Black Cat", False),
        PromptChoice("a blue cat", False),
    ]
    assert await history(storage, "CAT") == [
        PromptChoice("a green cat", True),
        PromptChoice("A Black Cat", False),
        PromptChoice("a blue cat", False),
    ]
    assert await history(storage, "cat", limit=2) == [
        PromptChoice("a green cat", True),
        PromptChoice("A Black Cat", False),
    ]
    assert await history(storage, "nothing like it") == []


async def test_prompt_history_keeps_to_its_bounds(storage: Storage) -> None:
    """Prompts longer than `longest` are not offered, and only the last `recent` jobs are
    searched."""
    await made(storage, "an old cat")
    await made(storage, "a long cat " + "x" * 100)
    await made(storage, "a new cat")
    assert await history(storage, "cat") == [
        PromptChoice("a new cat", False),
        PromptChoice("an old cat", False),
    ]
    assert await history(storage, "cat", recent=2) == [PromptChoice("a new cat", False)]


async def test_favourites_toggle_and_last(open_adapter: OpenStorage) -> None:
    """A favourite is added, removed, added again, and still there when the database is
    opened again; an unknown job cannot be one."""
    first = await open_adapter()
    job_id = await made(first, "a kite", BOB)
    assert await first.toggle_favourite(ALICE.user_id, job_id) is True
    assert await first.toggle_favourite(ALICE.user_id, job_id) is False
    assert await first.toggle_favourite(ALICE.user_id, job_id) is True
    assert await first.toggle_favourite(ALICE.user_id, job_id + 1000) is False
    again = await open_adapter()
    assert await history(again, "kite") == [PromptChoice("a kite", True)]


async def test_gallery_pages_through_delivered_results(storage: Storage) -> None:
    """Completed results whose message is known, newest first, a page at a time; for one
    member or the whole server, never another server's."""
    shown = [MessageRef(100, 9000 + n) for n in range(4)]
    alice_first = await made(storage, "one", shown=shown[0])
    bobs = await made(storage, "two", BOB, shown=shown[1])
    alice_last = await made(storage, "three", shown=shown[2])
    await made(storage, "failed", state=JobState.FAILED)
    await made(storage, "not shown")
    await made(storage, "elsewhere", Requester(ALICE.user_id, 11, 100), shown=shown[3])

    guild = ALICE.guild_id or 0
    page = await storage.gallery(guild, user_id=None, channel_ids=None, offset=0, limit=2)
    assert [(entry.job_id, entry.result) for entry in page] == [
        (alice_last, shown[2]),
        (bobs, shown[1]),
    ]
    assert page[1].user_id == BOB.user_id and page[1].prompt == "two"
    rest = await storage.gallery(guild, user_id=None, channel_ids=None, offset=2, limit=2)
    assert [entry.job_id for entry in rest] == [alice_first]
    mine = await storage.gallery(guild, user_id=ALICE.user_id, channel_ids=None, offset=0, limit=10)
    assert [entry.job_id for entry in mine] == [alice_last, alice_first]


async def test_gallery_keeps_to_the_channels_given(storage: Storage) -> None:
    """Only results shown in the channels given are listed (none for no channel)."""
    seen = await made(storage, "seen", shown=MessageRef(100, 9001))
    await made(storage, "hidden", shown=MessageRef(101, 9002))
    guild = ALICE.guild_id or 0
    listed = await storage.gallery(guild, user_id=None, channel_ids=[100], offset=0, limit=10)
    assert [entry.job_id for entry in listed] == [seen]
    assert await storage.gallery(guild, user_id=None, channel_ids=[], offset=0, limit=10) == []


async def test_deleted_result_messages_are_forgotten(storage: Storage) -> None:
    """A result whose message was deleted has no message and leaves the gallery; others keep
    theirs."""
    gone = await made(storage, "gone", shown=MessageRef(100, 9001))
    kept = await made(storage, "kept", shown=MessageRef(100, 9002))
    assert await storage.forget_result_messages([9001, 12345]) == 1
    assert await storage.forget_result_messages([]) == 0
    forgotten = await storage.get_job(gone)
    assert forgotten is not None and forgotten.result_message is None
    guild = ALICE.guild_id or 0
    listed = await storage.gallery(guild, user_id=None, channel_ids=None, offset=0, limit=10)
    assert [entry.job_id for entry in listed] == [kept]

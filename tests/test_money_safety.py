"""The edges where money could leak or members be locked out, through the real bot: a first
answer that fails, a ledger that cannot be written, a crash with a submit on the wire,
echoed input, unusable references, disguised blocked words, and a term blocked mid-flight."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import discord

from bot.core.models import GuildConfig, JobState
from bot.core.policy import GuildPolicy
from bot.storage import open_storage
from bot.storage.sqlite import SqliteStorage
from tests.fakes.fake_vibedream import Outcome
from tests.world import GENERAL, GUILD_ID, World, bot_world, png_bytes, started_fakes

MANAGE_SERVER = 1 << 5


async def test_a_failed_first_answer_releases_the_reservation_at_once(world: World) -> None:
    """When Discord refuses the first answer (the interaction expired), the job is released
    with nothing spent, so a member allowed one image at a time can ask again at once."""
    await world.answered(
        await world.command("limits set", permissions=MANAGE_SERVER, user_max_concurrent=1)
    )
    world.discord.expire_next_callbacks = 1
    lost = await world.imagine(prompt="never answered")
    await world.discord.wait_for(lambda: world.discord.expire_next_callbacks == 0)

    async def released() -> bool:
        job = await world.database.get_job(1)
        return job is not None and job.state is JobState.RELEASED

    for _ in range(100):
        if await released():
            break
        await asyncio.sleep(0.02)
    assert await released() and not lost.acknowledged
    message = await world.settled(await world.imagine(prompt="asked again"))
    assert message.attachments
    assert world.api.requests["submit"] == 1
    assert await world.database.total_charged_cents() == world.api.billed_cents == 1


async def test_a_ledger_that_cannot_record_the_submit_sends_nothing(world: World) -> None:
    """If the write-ahead row cannot be written (here SQLite itself refuses it), the submit is
    never sent, the member is told nothing was charged, and the row is released."""
    path = Path(world.bot.settings.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TRIGGER full_disk BEFORE UPDATE OF state ON jobs"
            " WHEN NEW.state = 'submitting' BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    message = await world.settled(await world.imagine(prompt="a fox"))
    assert "nothing was sent or charged" in message.content
    assert world.api.requests["submit"] == 0
    job = await world.database.get_job(1)
    assert job is not None and job.state is JobState.RELEASED and job.cost_cents == 0


async def test_a_crash_with_the_submit_on_the_wire_is_counted_and_told_honestly(
    tmp_path: Path,
) -> None:
    """A row left 'submitting' by a dead process is settled as possibly billed: counted at its
    reserved cost, flagged for reconciliation, and its requester told it may have been
    charged, never that nothing was."""
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord) as first:
            fake_api.plan(Outcome(generation_time=30))
            await first.imagine(prompt="in flight")
            await fake_discord.wait_for(lambda: fake_api.predictions)
            await first.bot.shutdown(grace_seconds=0)
        # What a kill -9 between the POST and its answer leaves: the row still 'submitting'.
        path = tmp_path / "imagine.db"
        with sqlite3.connect(path) as connection:
            connection.execute(
                "UPDATE jobs SET state = 'submitting', prediction_id = NULL, cost_cents = NULL"
            )
        async with bot_world(tmp_path, fake_api, fake_discord) as second:
            for _ in range(200):
                if not await second.database.undelivered_jobs(since=0):
                    break
                await asyncio.sleep(0.05)
            job = await second.database.get_job(1)
            assert job is not None and job.state is JobState.FAILED
            assert job.error_code == "OutcomeUnknown" and job.cost_cents is None
            assert await second.database.total_charged_cents() >= fake_api.billed_cents
            texts = [m.content for m in fake_discord.messages.values()]
            assert any("may have been charged" in text for text in texts)
            assert not any("nothing was charged" in text for text in texts)


async def test_a_huge_echoed_time_zone_still_gets_an_answer(world: World) -> None:
    """A 5,000-character time zone is refused in a reply that fits Discord's limit."""
    record = await world.command("limits set", permissions=MANAGE_SERVER, timezone="Z" * 5000)
    answer = await world.answered(record)
    assert "not a time zone" in answer["content"] and len(answer["content"]) <= 2000


async def test_unusable_references_are_refused_before_spending(world: World) -> None:
    """An empty file, a page named .png that Discord could not read as an image, and a
    picture declaring absurd dimensions are each refused privately; nothing is submitted."""
    empty = world.discord.host_attachment(b"", "empty.png", "image/png")
    page = world.discord.host_attachment(b"<html><body>hi</body></html>", "cat.png", "image/png")
    absurd = world.discord.host_attachment(png_bytes(), "huge.png", "image/png")
    absurd["width"], absurd["height"] = 100_000, 100_000
    for reference, words in ((empty, "empty"), (page, "could not read"), (absurd, "pixels")):
        answer = await world.answered(await world.imagine(prompt="a fox", image=reference))
        assert answer["flags"] & 64 and words in answer["content"], answer["content"]
    assert world.api.requests["submit"] == 0


async def test_disguised_blocked_words_are_refused(world: World) -> None:
    """Zero-width characters, look-alike letters, fullwidth letters and markdown inside a
    blocked word do not get it past the list."""
    await world.answered(
        await world.command("limits blocked add", permissions=MANAGE_SERVER, term="wolf")
    )
    for disguised in ("w\u200bolf", "w\u043elf", "\uff57\uff4f\uff4c\uff46", "_w_o_l_f_", "WoLF"):
        answer = await world.answered(await world.imagine(prompt=f"a {disguised} at night"))
        assert answer["flags"] & 64 and "blocked" in answer["content"], disguised
    assert world.api.requests["submit"] == 0


class SlowConfigStorage(SqliteStorage):
    """The real adapter, with the load of a server's configuration held until released, so
    a write can land while an admission's read is under way."""

    hold: asyncio.Event | None = None

    async def load_guild_config(self, guild_id: int) -> GuildConfig:
        config = await super().load_guild_config(guild_id)
        if self.hold is not None:
            await self.hold.wait()
        return config


async def test_a_term_blocked_during_an_admission_is_enforced_after_it(tmp_path: Path) -> None:
    """A policy read that started before a term was blocked returns the old policy to its
    caller but does not cache it: every later admission sees the term."""
    storage = await SlowConfigStorage.open(tmp_path / "race.db")
    try:
        policy = GuildPolicy(storage)
        storage.hold = asyncio.Event()
        in_flight = asyncio.create_task(policy.limits_for(GUILD_ID))
        await asyncio.sleep(0.05)  # the read has loaded the old configuration and waits
        await policy.set_term_blocked(GUILD_ID, "wolf", True)
        storage.hold.set()
        storage.hold = None
        stale = await in_flight
        assert stale.blocklist.first_match("a wolf") is None  # read before the write
        fresh = await policy.limits_for(GUILD_ID)
        assert fresh.blocklist.first_match("a wolf") == "wolf"
    finally:
        await storage.close()


async def test_the_factory_opens_the_adapter_its_url_names(tmp_path: Path) -> None:
    """sqlite:/// URLs open the SQLite adapter, creating the folder the file lives in."""
    storage = await open_storage(f"sqlite:///{tmp_path / 'nested' / 'bot.db'}")
    try:
        assert isinstance(storage, SqliteStorage) and storage.one_process_only
    finally:
        await storage.close()


async def test_a_spoiler_policy_hides_results_outside_age_restricted_channels(
    world: World,
) -> None:
    """With the spoiler policy, a result in an ordinary channel is a spoiler file shown in no
    embed; in an age-restricted channel it is shown as usual; with "refuse" none is made."""
    await world.answered(
        await world.command("limits set", permissions=MANAGE_SERVER, spoilers="spoiler")
    )
    hidden = await world.settled(await world.imagine(prompt="a fox"))
    [attachment] = hidden.attachments
    assert attachment.payload["filename"].startswith("SPOILER_")
    assert "image" not in hidden.embeds[0]

    channel = world.bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    channel.nsfw = True
    world.discord.channels[GENERAL]["nsfw"] = True
    shown = await world.settled(await world.imagine(prompt="a fox"))
    assert not shown.attachments[0].payload["filename"].startswith("SPOILER_")
    assert "image" in shown.embeds[0]

    channel.nsfw = False
    world.discord.channels[GENERAL]["nsfw"] = False
    await world.answered(
        await world.command("limits set", permissions=MANAGE_SERVER, spoilers="refuse")
    )
    answer = await world.answered(await world.imagine(prompt="a fox"))
    assert answer["flags"] & 64 and "age-restricted" in answer["content"]
    assert world.api.requests["submit"] == 2

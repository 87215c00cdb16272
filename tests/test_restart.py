"""Result buttons across restarts, and no job lost when the bot stops in the middle of work."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from bot.app import stop_gracefully_on_signals
from bot.core.models import JobState
from tests.fakes.discord_harness import component, make_user
from tests.fakes.fake_vibedream import Outcome
from tests.world import GENERAL, World, bot_world, started_fakes

MANAGE_MESSAGES = 1 << 13
STRANGER = make_user("stranger", user_id=100_000_000_000_000_009)


def button_ids(message) -> dict[str, str]:
    """Button label -> custom id, for the buttons under a result."""
    return {
        button["label"]: button["custom_id"]
        for row in message.components
        for button in row["components"]
    }


async def click(world: World, message_id: int, custom_id: str, **options):
    record = await component(world.bot, world.discord, message_id, custom_id, **options)
    await world.discord.wait_for(lambda: record.acknowledged)
    return record


async def test_buttons_work_after_a_restart(tmp_path: Path) -> None:
    """Buttons on a result made by one bot instance work in the next one, with no timeout."""
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord) as first:
            result = await first.settled(await first.imagine(prompt="a red kite", seed=77))
        buttons = button_ids(result)
        assert set(buttons) == {
            "Vary (Subtle)",
            "Vary (Strong)",
            "Remix",
            "Reroll",
            "Details",
            "Favourite",
            "Delete",
        }

        async with bot_world(tmp_path, fake_api, fake_discord) as second:
            details = await click(second, result.id, buttons["Details"])
            assert details.response_data["flags"] & 64
            [embed] = details.response_data["embeds"]
            assert embed["description"] == "a red kite" and "`77`" in str(embed["fields"])

            reroll = await click(second, result.id, buttons["Reroll"])
            rerolled = await second.settled(reroll)
            assert rerolled.attachments and fake_api.submissions[-1]["prompt"] == "a red kite"
            assert fake_api.submissions[-1]["seed"] != 77

            vary = await click(second, result.id, buttons["Vary (Subtle)"])
            await second.settled(vary)
            body = fake_api.submissions[-1]
            assert body["image"] == result.attachments[0].payload["url"]
            assert body["strength"] == 0.3


async def test_reroll_is_a_new_job_under_the_clickers_limits(tmp_path: Path) -> None:
    """A stranger's reroll counts against the stranger's own daily limit."""
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord, default_user_daily_images=1) as world,
    ):
        result = await world.settled(await world.imagine(prompt="a kite"))
        reroll_id = button_ids(result)["Reroll"]
        first = await click(world, result.id, reroll_id, user=STRANGER)
        await world.settled(first)
        second = await click(world, result.id, reroll_id, user=STRANGER)
        assert second.response_data["flags"] & 64
        assert "images for today" in second.response_data["content"]
        assert fake_api.requests["submit"] == 2


async def test_delete_by_requester_moderator_or_nobody_else(tmp_path: Path) -> None:
    """The requester and Manage Messages may delete a result; anyone else is told no privately."""
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord) as world,
    ):
        mine = await world.settled(await world.imagine(prompt="mine"))
        theirs = await world.settled(await world.imagine(prompt="theirs"))

        refused = await click(world, mine.id, button_ids(mine)["Delete"], user=STRANGER)
        assert refused.response_data["flags"] & 64
        assert "Only the person" in refused.response_data["content"]
        assert not fake_discord.messages[mine.id].deleted

        await click(world, mine.id, button_ids(mine)["Delete"])  # the requester
        await fake_discord.wait_for(lambda: fake_discord.messages[mine.id].deleted)

        moderator = make_user("mod", user_id=100_000_000_000_000_010)
        await click(
            world,
            theirs.id,
            button_ids(theirs)["Delete"],
            user=moderator,
            permissions=MANAGE_MESSAGES,
        )
        await fake_discord.wait_for(lambda: fake_discord.messages[theirs.id].deleted)


async def test_a_restart_in_the_middle_of_twenty_jobs_loses_none(tmp_path: Path) -> None:
    """Stopped with 8 jobs generating and 12 queued, the next instance delivers the 8 (by edit
    while tokens last, else in the channel) and tells the 12 nothing was charged; the ledger
    equals the provider's billing."""
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord, generation_concurrency=8) as first:
            fake_api.generation_time = 2.0
            records = await asyncio.gather(*(first.imagine(prompt=f"job {n}") for n in range(20)))
            await fake_discord.wait_for(lambda: len(fake_api.predictions) == 8)
            await fake_discord.wait_for(
                lambda: len([r for r in records if fake_discord.interaction_original(r.id)]) == 20
            )
            await first.bot.shutdown(grace_seconds=0.2)
            in_flight = await first.database.jobs_in_flight()
            assert sorted(job.state for job in in_flight).count(JobState.SUBMITTED) == 8
            assert len(in_flight) == 20

        submitted = [job for job in in_flight if job.state is JobState.SUBMITTED]
        expired = {job.reply.token for job in submitted[:3]}
        for token in expired:
            assert token is not None  # an interaction reply carries its token
            fake_discord.expire_interaction(token)

        async with bot_world(tmp_path, fake_api, fake_discord) as second:
            for _ in range(200):  # recovery runs in the background; give it up to 10 s
                if not await second.database.undelivered_jobs(since=0):
                    break
                await asyncio.sleep(0.05)
            assert await second.database.undelivered_jobs(since=0) == []

            originals = [fake_discord.interaction_original(record.id) for record in records]
            images_by_edit = [m for m in originals if m and m.attachments]
            reported = [m for m in originals if m and "nothing was charged" in m.content]
            in_channel = [
                m for m in fake_discord.messages_in(GENERAL) if m.attachments and not m.webhook_id
            ]
            assert (len(images_by_edit), len(in_channel), len(reported)) == (5, 3, 12)
            for message in in_channel:
                mentions = message.allowed_mentions
                assert message.content.startswith("<@") and mentions is not None
                assert mentions["parse"] == []
            assert await second.database.total_charged_cents() == fake_api.billed_cents == 8
            assert await second.database.jobs_in_flight() == []


async def test_sigterm_finishes_running_jobs_and_refuses_new_ones(tmp_path: Path) -> None:
    """On SIGTERM the bot refuses new jobs, lets the running one deliver, then stops."""
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord) as world,
    ):
        stop_gracefully_on_signals(world.bot, grace_seconds=10)
        fake_api.plan(Outcome(generation_time=1.0, estimated_time="0.5-1s"))
        running = await world.imagine(prompt="almost done")
        await fake_discord.wait_for(lambda: fake_api.predictions)

        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        late = await world.answered(await world.imagine(prompt="too late"))
        assert late["flags"] & 64 and "restarting" in late["content"]

        await fake_discord.wait_for(world.bot.is_closed, timeout=10)
        delivered = fake_discord.interaction_original(running.id)
        assert delivered is not None and delivered.attachments
        assert fake_api.requests["submit"] == 1

"""Several images at once (`count`): admitted whole, shown in one message, worked on one by one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.core.models import JobState
from tests.fakes.fake_discord import FakeMessage, InteractionRecord
from tests.test_limits import refused, set_limits
from tests.test_restart import button_ids, click
from tests.world import World, bot_world, started_fakes


async def confirmed(
    world: World, record: InteractionRecord, **click_options: Any
) -> InteractionRecord:
    """Confirm the private cost preview a set is first answered with; the click's own reply
    becomes the set's."""
    await world.discord.wait_for(lambda: record.acknowledged)
    preview = world.discord.interaction_original(record.id)
    assert preview is not None and preview.ephemeral and preview.components
    confirm_id = preview.components[0]["components"][0]["custom_id"]  # Confirm, in any language
    # discord.py starts listening for the preview's buttons once the answer that carried them
    # has returned from Discord; no member can click sooner, so neither does the test.
    views = world.bot._connection._view_store._views
    await world.discord.wait_for(lambda: any((2, confirm_id) in items for items in views.values()))
    confirming: InteractionRecord = await click(world, preview.id, confirm_id, **click_options)
    return confirming


async def imagine_set(world: World, **options: Any) -> FakeMessage:
    return await world.settled(await confirmed(world, await world.imagine(**options)))


def labels(message: FakeMessage) -> list[list[str]]:
    return [[button["label"] for button in row["components"]] for row in message.components]


def image_url(message: FakeMessage, number: int) -> str:
    return str(message.attachments[number - 1].payload["url"])


async def test_four_images_come_in_one_message_with_their_seeds(world: World) -> None:
    """count:4 submits seeds s..s+3 and delivers one message: four images, each seed listed,
    U1-U4 and V1-V4 for each image, then the set's own buttons."""
    result = await imagine_set(world, prompt="a lighthouse", size="512*512", seed=40, count=4)
    assert sorted(body["seed"] for body in world.api.submissions) == [40, 41, 42, 43]
    assert len(result.attachments) == 4 and len(result.embeds) == 1
    seeds = {field["name"]: field["value"] for field in result.embeds[0]["fields"]}["Seeds"]
    assert seeds == "1: `40` · 2: `41` · 3: `42` · 4: `43`"
    assert labels(result) == [
        ["U1", "U2", "U3", "U4"],
        ["V1", "V2", "V3", "V4"],
        ["Reroll", "Details", "Favourite", "Delete"],
    ]
    first_job = int(result.embeds[0]["footer"]["text"].split()[1].rstrip(","))
    jobs = await world.database.jobs_in_batch(first_job)
    assert [job.state for job in jobs] == [JobState.COMPLETED] * 4
    assert [job.request.seed for job in jobs] == [40, 41, 42, 43]
    assert await world.database.total_charged_cents() == world.api.billed_cents == 4


async def test_a_set_over_the_daily_limit_is_refused_whole(world: World) -> None:
    """Four images against a daily limit of 3: refused privately, saying 3 would fit; nothing
    is recorded or sent."""
    await set_limits(world, user_daily_images=3)
    text = await refused(world, prompt="a lighthouse", count=4)
    assert "Only 3 of the 4 images you asked for would fit." in text
    assert world.api.requests["submit"] == 0
    assert await world.database.get_job(1) is None  # no job recorded at all
    result = await imagine_set(world, prompt="a lighthouse", count=3)
    assert len(result.attachments) == 3


async def test_a_server_can_cap_the_count(world: World) -> None:
    await set_limits(world, max_images_per_request=2)
    text = await refused(world, prompt="a lighthouse", count=3)
    assert text == "This server allows up to 2 images per request."
    assert world.api.requests["submit"] == 0


async def test_each_image_has_its_own_upscale_and_vary(world: World) -> None:
    """U2 upscales the second image to 1024×1024; V3 varies the third at 0.3."""
    result = await imagine_set(world, prompt="a lighthouse", size="512*512", seed=40, count=4)
    buttons = button_ids(result)
    await world.settled(await click(world, result.id, buttons["U2"]))
    body = world.api.submissions[-1]
    assert (body["size"], body["image"], body["seed"]) == ("1024*1024", image_url(result, 2), 41)
    await world.settled(await click(world, result.id, buttons["V3"]))
    body = world.api.submissions[-1]
    assert (body["image"], body["strength"]) == (image_url(result, 3), 0.3)


async def test_reroll_of_a_set_makes_a_new_set(world: World) -> None:
    result = await imagine_set(world, prompt="a lighthouse", seed=40, count=3)
    reroll = await click(world, result.id, button_ids(result)["Reroll"])
    rerolled = await world.settled(await confirmed(world, reroll))
    assert len(rerolled.attachments) == 3 and world.api.requests["submit"] == 6
    seeds = [body["seed"] for body in world.api.submissions[3:]]
    assert sorted(seeds) == list(range(min(seeds), min(seeds) + 3)) and 40 not in seeds
    details = await click(world, rerolled.id, button_ids(rerolled)["Details"])
    assert len(details.response_data["embeds"]) == 3


async def test_a_set_stopped_by_a_restart_is_delivered_in_one_message(tmp_path: Path) -> None:
    """Stopped while its four images generate, the next start delivers all four together in
    the set's own reply, and the ledger equals what the provider billed."""
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord) as first:
            fake_api.generation_time = 2.0
            asked = await first.imagine(prompt="a lighthouse", size="512*512", count=4)
            record = await confirmed(first, asked)
            await fake_discord.wait_for(lambda: len(fake_api.predictions) == 4)
            await first.bot.shutdown(grace_seconds=0.2)
        fake_api.generation_time = 0.05
        async with bot_world(tmp_path, fake_api, fake_discord) as second:
            result = await second.settled(record)
            assert len(result.attachments) == 4
            assert labels(result)[0] == ["U1", "U2", "U3", "U4"]
            for _ in range(100):
                if not await second.database.undelivered_jobs(since=0):
                    break
                await asyncio.sleep(0.05)
            assert await second.database.undelivered_jobs(since=0) == []
            assert await second.database.total_charged_cents() == fake_api.billed_cents == 4
            # Its buttons work in the new instance.
            await second.settled(await click(second, result.id, button_ids(result)["V1"]))
            assert fake_api.submissions[-1]["image"] == image_url(result, 1)


async def test_a_preferred_count_applies_unless_one_is_given(world: World) -> None:
    shown = await world.answered(await world.command("prefer set", count=3))
    assert {f["name"]: f["value"] for f in shown["embeds"][0]["fields"]}["Images per prompt"] == "3"
    preferred = await imagine_set(world, prompt="a lighthouse")
    assert len(preferred.attachments) == 3
    given = await world.settled(await world.imagine(prompt="a lighthouse", count=1))
    assert len(given.attachments) == 1

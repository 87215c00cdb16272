"""Cancel while waiting (released, nothing spent) and Stop waiting once submitted (still paid
for, delivered all the same), through the buttons under the progress line."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.eta import RecentDurations
from bot.core.models import JobState
from tests.fakes.fake_discord import FakeMessage, InteractionRecord
from tests.test_restart import STRANGER, button_ids, click
from tests.world import World, bot_world, started_fakes


async def progress_with(world: World, record: InteractionRecord, label: str) -> FakeMessage:
    """The reply once its progress line carries the button `label`."""

    def shown() -> FakeMessage | None:
        message = world.discord.interaction_original(record.id)
        return message if message and label in button_ids(message) else None

    return await world.discord.wait_for(shown, timeout=5)


async def test_cancel_while_waiting_releases_and_spends_nothing(tmp_path: Path) -> None:
    """With one prediction at a time, the second job waits; Cancel ends it before any submit,
    the reply says nothing was charged, and the ledger shows it released at 0¢."""
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord, generation_concurrency=1) as world,
    ):
        fake_api.generation_time = 3.0
        first = await world.imagine(prompt="the first")
        waiting = await world.imagine(prompt="the second")
        line = await progress_with(world, waiting, "Cancel")
        assert "in line" in line.content

        stranger = await click(world, line.id, button_ids(line)["Cancel"], user=STRANGER)
        assert stranger.response_data is not None and stranger.response_data["flags"] & 64
        await click(world, line.id, button_ids(line)["Cancel"])
        cancelled = await world.settled(waiting)
        assert "nothing was charged" in cancelled.content and not cancelled.components
        await world.settled(first)
        assert fake_api.requests["submit"] == 1
        jobs = [await world.database.get_job(job_id) for job_id in (1, 2)]
        assert [(job.state, job.error_code) for job in jobs if job] == [
            (JobState.COMPLETED, None),
            (JobState.RELEASED, "Cancelled"),
        ]
        assert await world.database.total_charged_cents() == fake_api.billed_cents == 1


async def test_stop_waiting_after_submit_is_honest_and_keeps_the_image(world: World) -> None:
    """Once submitted the button is Stop waiting: pressing it says the image is still paid for,
    and the image is delivered anyway; the ledger charges it."""
    world.api.generation_time = 3.0
    record = await world.imagine(prompt="a slow one")
    line = await progress_with(world, record, "Stop waiting")
    await click(world, line.id, button_ids(line)["Stop waiting"])
    await world.discord.wait_for(
        lambda: "still being made and paid for" in line.content and not line.components
    )
    result = await world.settled(record, within=10)
    assert result.attachments and button_ids(result)["Reroll"]
    job = await world.database.get_job(1)
    assert job is not None and (job.state, job.cost_cents) == (JobState.COMPLETED, 1)
    assert await world.database.total_charged_cents() == world.api.billed_cents == 1


async def test_a_finished_image_cannot_be_cancelled(world: World) -> None:
    result = await world.settled(await world.imagine(prompt="quick"))
    job_id = button_ids(result)["Reroll"].rsplit(":", 1)[1]
    stray = f"imagine:cancel:{job_id}"
    world.discord.messages[result.id].components[0]["components"][0]["custom_id"] = stray
    refused = await click(world, result.id, stray)
    assert refused.response_data is not None
    assert "isn't waiting any more" in refused.response_data["content"]


async def test_a_waiting_job_shows_its_place_and_time_left(tmp_path: Path) -> None:
    """Once one image has been made, a job waiting behind another tells its place in line and
    an estimate from the time recent images took."""
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord, generation_concurrency=1) as world,
    ):
        fake_api.generation_time = 0.4
        await world.settled(await world.imagine(prompt="a first one"))
        fake_api.generation_time = 3.0
        running = await world.imagine(prompt="the second")
        waiting = await world.imagine(prompt="the third")
        line = await progress_with(world, waiting, "Cancel")
        assert re.search(r"number 1 in line… about \d+s left", line.content), line.content
        await world.settled(running)
        await world.settled(waiting)


def test_time_left_counts_the_rounds_ahead_and_the_jobs_own() -> None:
    recent = RecentDurations()
    assert recent.time_left(3, 2) is None
    for seconds in (2.0, 4.0, 3.0):
        recent.add(seconds)
    assert recent.time_left(1, 2) == 6.0  # one round ahead, then its own, at the median 3 s
    assert recent.time_left(5, 2) == 12.0

"""The cost shown before it is spent: a set, or one image above the server's threshold, is
first previewed privately; only Confirm reserves."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.fake_vibedream import FakeVibeDream
from tests.test_image_sets import confirmed
from tests.test_limits import set_limits
from tests.test_restart import button_ids, click
from tests.world import World, running_world


async def test_the_preview_alone_spends_nothing(world: World) -> None:
    """Two images: the preview names their cost and the server's budget left; Cancel ends
    it, and nothing is recorded or sent."""
    await set_limits(world, guild_daily_budget_cents=10)
    record = await world.imagine(prompt="a lighthouse", count=2)
    await world.discord.wait_for(lambda: record.acknowledged)
    preview = world.discord.interaction_original(record.id)
    assert preview is not None and preview.ephemeral
    assert "2 images will cost about $0.02" in preview.content
    assert "$0.10 left today" in preview.content
    assert world.api.requests["submit"] == 0 and await world.database.get_job(1) is None

    cancel_id = button_ids(preview)["Cancel"]
    views = world.bot._connection._view_store._views  # see tests.test_image_sets.confirmed
    await world.discord.wait_for(lambda: any((2, cancel_id) in items for items in views.values()))
    await click(world, preview.id, cancel_id)
    await world.discord.wait_for(lambda: "nothing was spent" in preview.content)
    assert not preview.components
    assert world.api.requests["submit"] == 0 and await world.database.get_job(1) is None


async def test_confirm_reserves_and_makes_the_images(world: World) -> None:
    record = await world.imagine(prompt="a lighthouse", count=2)
    result = await world.settled(await confirmed(world, record))
    assert len(result.attachments) == 2 and not result.ephemeral
    preview = world.discord.interaction_original(record.id)
    assert preview is not None and preview.content.startswith("Confirmed")
    assert await world.database.total_charged_cents() == world.api.billed_cents == 2


async def test_one_image_above_the_threshold_asks_first(tmp_path: Path) -> None:
    """At 5¢ an image, a server asking to confirm above 3¢ previews even one image; off (0),
    it never asks."""
    async with running_world(
        tmp_path, fake_api=FakeVibeDream(cost_cents=5), expected_cost_cents=5
    ) as world:
        await set_limits(world, confirm_above_cents=3)
        record = await world.imagine(prompt="a lighthouse")
        result = await world.settled(await confirmed(world, record))
        assert len(result.attachments) == 1

        await set_limits(world, confirm_above_cents=0)
        direct = await world.settled(await world.imagine(prompt="a lighthouse"))
        assert direct.attachments and await world.database.total_charged_cents() == 10


async def test_a_confirmed_set_answers_in_the_members_language(world: World) -> None:
    """The preview, its Confirm and the set it makes speak the member's language."""
    record = await world.imagine(prompt="ein Leuchtturm", count=2, locale="de")
    result = await world.settled(await confirmed(world, record, locale="de"))
    assert {field["name"] for field in result.embeds[0]["fields"]} >= {"Größe"}
    preview = world.discord.interaction_original(record.id)
    assert preview is not None and preview.content.startswith("Bestätigt")

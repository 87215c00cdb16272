"""Working on from a result: Vary (Subtle/Strong), Upscale and Remix, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.discord_harness import message_command, modal_submit
from tests.fakes.fake_discord import FakeMessage, InteractionRecord
from tests.test_restart import STRANGER, button_ids, click
from tests.world import World, bot_world, started_fakes

SUBTLE, STRONG = "Vary (Subtle)", "Vary (Strong)"


def result_url(message: FakeMessage) -> str:
    return str(message.attachments[0].payload["url"])


def inputs(components: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A modal's text inputs by custom id, wherever its layout puts them."""
    found: dict[str, dict[str, Any]] = {}
    for item in components:
        if item["type"] == 4:
            found[item["custom_id"]] = item
        for child in [*item.get("components", []), *filter(None, [item.get("component")])]:
            found.update(inputs([child]))
    return found


def job_id_of(message: FakeMessage) -> int:
    """The job a result shows, from its embed's footer."""
    return int(message.embeds[0]["footer"]["text"].split()[1])


async def test_buttons_are_laid_out_in_two_rows(world: World) -> None:
    """Working on the image above (Vary, Upscale, Remix), the job itself below."""
    result = await world.settled(await world.imagine(prompt="a kite", size="512*512"))
    rows = [[button["label"] for button in row["components"]] for row in result.components]
    assert rows == [
        [SUBTLE, STRONG, "Upscale", "Remix"],
        ["Reroll", "Details", "Favourite", "Delete"],
    ]
    for row in result.components:
        for button in row["components"]:
            assert len(button["label"]) <= 80 and len(button["custom_id"]) <= 100


async def test_upscale_asks_for_the_largest_size_from_the_result(world: World) -> None:
    """Upscale of a 512×512 result asks for 1024*1024 at strength 0.2 from the result's image,
    and says it is a new generation, not a pixel upscale."""
    result = await world.settled(await world.imagine(prompt="a kite", size="512*512", seed=5))
    upscaled = await world.settled(await click(world, result.id, button_ids(result)["Upscale"]))

    body = world.api.submissions[-1]
    assert (body["size"], body["strength"], body["image"]) == ("1024*1024", 0.2, result_url(result))
    assert body["prompt"] == "a kite" and body["seed"] == 5
    assert world.decoded(upscaled).size == (1024, 1024)
    await world.discord.wait_for(lambda: "not a pixel upscale" in upscaled.content)
    assert "1024×1024" in upscaled.content and upscaled.embeds


async def test_no_upscale_at_the_largest_size(world: World) -> None:
    """A 1024×1024 result has no Upscale button; its other buttons are all there."""
    result = await world.settled(await world.imagine(prompt="a kite", size="1024*1024"))
    assert set(button_ids(result)) == {
        SUBTLE,
        STRONG,
        "Remix",
        "Reroll",
        "Details",
        "Favourite",
        "Delete",
    }


async def test_an_upscale_of_the_largest_size_is_refused(world: World) -> None:
    """Should an Upscale id reach a 1024×1024 result anyway, the click is refused privately
    and nothing is submitted."""
    result = await world.settled(await world.imagine(prompt="a kite", size="1024*1024"))
    job = button_ids(result)["Reroll"].rsplit(":", 1)[1]
    stray = f"imagine:upscale:{job}"
    world.discord.messages[result.id].components[0]["components"][0]["custom_id"] = stray
    refused = await click(world, result.id, stray)
    assert refused.response_data["flags"] & 64
    assert "already the largest" in refused.response_data["content"]
    assert world.api.requests["submit"] == 1


async def test_vary_subtle_and_strong(world: World) -> None:
    """Vary (Subtle) and (Strong) remix the result's image at 0.3 and 0.7 with a new seed."""
    result = await world.settled(await world.imagine(prompt="a kite", seed=77))
    buttons = button_ids(result)
    for label, strength in ((SUBTLE, 0.3), (STRONG, 0.7)):
        await world.settled(await click(world, result.id, buttons[label]))
        body = world.api.submissions[-1]
        assert (body["image"], body["strength"]) == (result_url(result), strength)
        assert body["prompt"] == "a kite" and body["seed"] not in (-1, 77)


async def test_remix_opens_a_prefilled_modal_then_remixes(world: World) -> None:
    """Remix opens a modal prefilled with the prompt and strength; submitting it remixes the
    result's image, keeping its size."""
    result = await world.settled(await world.imagine(prompt="a red kite", size="768*768"))
    opened: InteractionRecord = await click(world, result.id, button_ids(result)["Remix"])
    assert opened.response_type == 9 and opened.response_data is not None
    fields = inputs(opened.response_data["components"])
    assert fields["prompt"]["value"] == "a red kite" and fields["strength"]["value"] == "0.6"

    submitted = await modal_submit(
        world.bot, world.discord, opened, {"prompt": "a red kite at night", "strength": "0.4"}
    )
    await world.settled(submitted)
    body = world.api.submissions[-1]
    assert (body["image"], body["strength"]) == (result_url(result), 0.4)
    assert (body["prompt"], body["size"]) == ("a red kite at night", "768*768")


async def test_a_flag_typed_in_the_remix_beats_the_kept_size(world: World) -> None:
    """The remix keeps the result's size unless the member types --ar in the modal."""
    result = await world.settled(await world.imagine(prompt="a red kite", size="768*768"))
    opened = await click(world, result.id, button_ids(result)["Remix"])
    submitted = await modal_submit(
        world.bot, world.discord, opened, {"prompt": "a red kite --ar 16:9"}
    )
    remixed = await world.settled(submitted)
    assert world.api.submissions[-1]["size"] == "1280*720"
    assert remixed.content == ""  # no "an option you gave won" line: none was given


async def test_the_context_menu_modal_keeps_its_own_defaults(world: World) -> None:
    """A Remix of a Vary (Strong) is prefilled with 0.7; that does not leak into the next
    modal opened elsewhere."""
    first = await world.settled(await world.imagine(prompt="a red kite"))
    result = await world.settled(await click(world, first.id, button_ids(first)[STRONG]))
    remix: InteractionRecord = await click(world, result.id, button_ids(result)["Remix"])
    assert remix.response_data is not None
    assert inputs(remix.response_data["components"])["strength"]["value"] == "0.7"
    menu = await message_command(world.bot, world.discord, "Imagine from image", result.id)
    await world.discord.wait_for(lambda: menu.acknowledged)
    assert menu.response_data is not None
    fields = inputs(menu.response_data["components"])
    assert fields["strength"]["value"] == "0.6" and not fields["prompt"].get("value")


async def test_new_images_are_the_clickers_under_the_clickers_limits(tmp_path: Path) -> None:
    """With one image a day each: the requester, at the limit, is refused privately and
    nothing is submitted; a stranger's Vary and Upscale are the stranger's, and the stranger's
    second is refused."""
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord, default_user_daily_images=1) as world,
    ):
        result = await world.settled(await world.imagine(prompt="a kite", size="512*512"))
        buttons = button_ids(result)

        refused = await click(world, result.id, buttons[SUBTLE])
        assert refused.response_data["flags"] & 64
        assert "images for today" in refused.response_data["content"]
        assert fake_api.requests["submit"] == 1

        varied = await world.settled(await click(world, result.id, buttons[STRONG], user=STRANGER))
        job = await world.database.get_job(job_id_of(varied))
        assert job is not None and job.requester.user_id == int(STRANGER["id"])
        assert fake_api.requests["submit"] == 2

        again = await click(world, result.id, buttons["Upscale"], user=STRANGER)
        assert again.response_data["flags"] & 64
        assert "images for today" in again.response_data["content"]
        assert fake_api.requests["submit"] == 2


async def test_the_new_buttons_work_after_a_restart(tmp_path: Path) -> None:
    """Vary, Upscale and Remix on a result made by one instance work in the next, and so does
    the single Vary button of results posted before it was split (as Vary (Subtle))."""
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord) as first:
            result = await first.settled(await first.imagine(prompt="a kite", size="512*512"))
        buttons = button_ids(result)
        image = result_url(result)

        async with bot_world(tmp_path, fake_api, fake_discord) as second:
            await second.settled(await click(second, result.id, buttons[STRONG]))
            assert (fake_api.submissions[-1]["image"], fake_api.submissions[-1]["strength"]) == (
                image,
                0.7,
            )
            await second.settled(await click(second, result.id, buttons["Upscale"]))
            assert fake_api.submissions[-1]["size"] == "1024*1024"

            opened = await click(second, result.id, buttons["Remix"])
            submitted = await modal_submit(
                second.bot, second.discord, opened, {"prompt": "a kite in the rain"}
            )
            await second.settled(submitted)
            assert fake_api.submissions[-1]["prompt"] == "a kite in the rain"
            assert fake_api.submissions[-1]["image"] == image

            # A result from before the split: its Vary button's id is imagine:vary:<job>.
            job = buttons[SUBTLE].rsplit(":", 1)[1]
            legacy = f"imagine:vary:{job}"
            fake_discord.messages[result.id].components[0]["components"][0]["custom_id"] = legacy
            await second.settled(await click(second, result.id, legacy))
            assert fake_api.submissions[-1]["strength"] == 0.3
            assert fake_api.requests["submit"] == 5

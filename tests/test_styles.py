"""Server styles end to end: moderators keep them through a form, members pick them (or get
the channel's), and the prompt sent is the style's template around the member's words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core.models import Style
from tests.fakes.discord_harness import message_command, message_create, modal_submit, slash
from tests.fakes.fake_discord import InteractionRecord
from tests.test_imagine import embed_fields
from tests.test_limits import MANAGE_SERVER, refused
from tests.test_remix_routes import post_image
from tests.test_restart import button_ids, click
from tests.world import GENERAL, GUILD_ID, MOD_LOG, World, bot_world, started_fakes

OTHER_GUILD = GUILD_ID + 1


async def style_command(
    world: World, path: str, permissions: int = MANAGE_SERVER, **options: Any
) -> InteractionRecord:
    """A /style command (its options include `name`, which World.command takes for itself)."""
    return await slash(
        world.bot,
        world.discord,
        f"style {path}",
        options,
        guild_id=GUILD_ID,
        channel_id=GENERAL,
        permissions=permissions,
    )


async def add_style(world: World, name: str, template: str, **options: Any) -> dict[str, Any]:
    """/style add, then the form submitted with `template`; returns the answer to the form."""
    opened = await style_command(world, "add", name=name, **options)
    await world.discord.wait_for(lambda: opened.acknowledged)
    submitted = await modal_submit(world.bot, world.discord, opened, {"template": template})
    return await world.answered(submitted)


async def nothing_recorded(world: World) -> None:
    """No job in the ledger, nothing submitted, nothing charged."""
    assert await world.database.undelivered_jobs(since=0) == []
    assert (await world.database.tally(GUILD_ID)).generations == 0
    assert world.api.requests["submit"] == 0 and await world.database.total_charged_cents() == 0


def template_input(opened: InteractionRecord) -> dict[str, Any]:
    assert opened.response_type == 9 and opened.response_data is not None
    [row] = opened.response_data["components"]
    [text_input] = row.get("components") or [row["component"]]
    return dict(text_input)


async def test_a_style_made_in_the_form_is_applied_and_shown(world: World) -> None:
    """The form creates the style; /imagine style: sends the template around the prompt, at
    the style's size, and the result names the style and shows the prompt sent."""
    answer = await add_style(world, "Film Noir", "{prompt}, film noir", size="1280*720")
    assert answer["flags"] & 64 and "Film Noir" in answer["content"]

    result = await world.settled(await world.imagine(prompt="a detective", style="film noir"))
    body = world.api.submissions[-1]
    assert (body["prompt"], body["size"]) == ("a detective, film noir", "1280*720")
    assert result.embeds[0]["description"] == "a detective, film noir"
    assert embed_fields(result)["Style"] == "Film Noir"
    details = await click(world, result.id, button_ids(result)["Details"])
    assert details.response_data is not None
    [embed] = details.response_data["embeds"]
    assert {"name": "Style", "value": "Film Noir", "inline": True} in embed["fields"]


async def test_a_template_without_its_slot_is_refused(world: World) -> None:
    answer = await add_style(world, "Noir", "film noir, high contrast")
    assert answer["flags"] & 64 and "{prompt}" in answer["content"]
    assert await world.database.list_styles(GUILD_ID) == []


async def test_editing_prefills_the_form_and_changes_the_style(world: World) -> None:
    """/style edit opens the form holding the template; what is submitted replaces it, and a
    size given in the command replaces the default size."""
    await add_style(world, "Noir", "{prompt}, noir", size="1280*720")
    opened = await style_command(world, "edit", name="NOIR", size="none")
    await world.discord.wait_for(lambda: opened.acknowledged)
    assert template_input(opened)["value"] == "{prompt}, noir"
    submitted = await modal_submit(
        world.bot, world.discord, opened, {"template": "{prompt}, grainy noir"}
    )
    assert "saved" in (await world.answered(submitted))["content"]
    assert await world.database.list_styles(GUILD_ID) == [
        Style(GUILD_ID, "Noir", "{prompt}, grainy noir", None)
    ]


async def test_members_without_manage_server_are_refused(world: World) -> None:
    """No form opens for them, and nothing is changed."""
    await add_style(world, "Noir", "{prompt}, noir")
    for path, options in (
        ("add", {"name": "Mine"}),
        ("edit", {"name": "Noir"}),
        ("delete", {"name": "Noir"}),
        ("channel", {"channel": world.channel(GENERAL), "style": "Noir"}),
    ):
        record = await style_command(world, path, permissions=0, **options)
        answer = await world.answered(record)
        assert record.response_type == 4 and answer["flags"] & 64, path
        assert "Manage Server" in answer["content"]
    assert [style.name for style in await world.database.list_styles(GUILD_ID)] == ["Noir"]
    assert await world.database.channel_styles(GUILD_ID) == {}


async def test_a_form_submitted_by_someone_who_lost_manage_server_is_refused(world: World) -> None:
    opened = await style_command(world, "add", name="Noir")
    await world.discord.wait_for(lambda: opened.acknowledged)
    opened.payload["member"]["permissions"] = "0"
    submitted = await modal_submit(world.bot, world.discord, opened, {"template": "{prompt}"})
    assert "Manage Server" in (await world.answered(submitted))["content"]
    assert await world.database.list_styles(GUILD_ID) == []


async def test_names_are_unique_whatever_their_case(world: World) -> None:
    await add_style(world, "Noir", "{prompt}, noir")
    again = await world.answered(await style_command(world, "add", name="NOIR"))
    assert again["flags"] & 64 and "already a style" in again["content"]
    bad = await world.answered(await style_command(world, "add", name="no*stars"))
    assert "letters, digits" in bad["content"]


async def test_a_blocked_word_inside_a_style_is_refused_before_anything_is_spent(
    world: World,
) -> None:
    await add_style(world, "Gore", "{prompt}, covered in blood")
    await world.answered(
        await world.command("limits blocked add", permissions=MANAGE_SERVER, term="blood")
    )
    text = await refused(world, prompt="a knight", style="Gore")
    assert "“blood”" in text and "blocked" in text
    await nothing_recorded(world)


async def test_autocomplete_offers_this_servers_styles_filtered_at_most_25(
    world: World,
) -> None:
    for number in range(30):
        await world.database.create_style(Style(GUILD_ID, f"Style {number:02}", "{prompt}"))
    await world.database.create_style(Style(GUILD_ID, "Watercolour", "{prompt}, watercolour"))
    await world.database.create_style(Style(OTHER_GUILD, "Water elsewhere", "{prompt}"))

    everything = await world.autocomplete("imagine", "style", prompt="a cat", style="")
    assert len(everything) == 25
    assert all(choice["name"] != "Water elsewhere" for choice in everything)
    water = await world.autocomplete("imagine", "style", prompt="a cat", style="WAT")
    assert water == [{"name": "Watercolour", "value": "Watercolour"}]
    some = await world.autocomplete("imagine", "style", prompt="a cat", style="le 1")
    assert [choice["name"] for choice in some] == [f"Style {n}" for n in range(10, 20)]


async def test_a_channel_default_applies_and_an_explicit_style_wins(world: World) -> None:
    await add_style(world, "Noir", "{prompt}, noir")
    await add_style(world, "Anime", "anime art of {prompt}")
    answer = await world.answered(
        await world.command(
            "style channel", permissions=MANAGE_SERVER, channel=world.channel(GENERAL), style="noir"
        )
    )
    assert "Noir" in answer["content"]

    await world.settled(await world.imagine(prompt="a cat"))
    assert world.api.submissions[-1]["prompt"] == "a cat, noir"
    await world.settled(await world.imagine(prompt="a cat", style="Anime"))
    assert world.api.submissions[-1]["prompt"] == "anime art of a cat"
    plain = await world.settled(await world.imagine(prompt="a cat", style="none"))
    assert world.api.submissions[-1]["prompt"] == "a cat" and "Style" not in embed_fields(plain)
    await world.settled(await world.imagine(MOD_LOG, prompt="a cat"))  # no default there
    assert world.api.submissions[-1]["prompt"] == "a cat"


async def test_an_unknown_style_is_refused(world: World) -> None:
    text = await refused(world, prompt="a cat", style="Nope")
    assert "no style “Nope”" in text
    await nothing_recorded(world)


async def test_deleting_a_style_clears_the_channels_using_it(world: World) -> None:
    await add_style(world, "Noir", "{prompt}, noir")
    await world.answered(
        await world.command(
            "style channel", permissions=MANAGE_SERVER, channel=world.channel(GENERAL), style="Noir"
        )
    )
    listed = await world.answered(await style_command(world, "list"))
    [field] = listed["embeds"][0]["fields"]
    assert field["name"] == "Noir" and f"<#{GENERAL}>" in field["value"]
    await world.answered(await style_command(world, "delete", name="noir"))
    await world.settled(await world.imagine(prompt="a cat"))
    assert world.api.submissions[-1]["prompt"] == "a cat"


async def test_mentions_and_the_context_menu_get_the_channel_default(world: World) -> None:
    """Both image-to-image routes use the channel's style; a Remix of a result does not add
    it a second time."""
    await add_style(world, "Noir", "{prompt}, noir")
    await world.answered(
        await world.command(
            "style channel", permissions=MANAGE_SERVER, channel=world.channel(GENERAL), style="Noir"
        )
    )
    target = await post_image(world)
    assert world.bot.user is not None
    await message_create(
        world.bot,
        world.discord,
        f"<@{world.bot.user.id}> as a sketch",
        channel_id=GENERAL,
        guild_id=GUILD_ID,
        reply_to=target,
    )
    await world.discord.wait_for(lambda: world.api.requests["submit"] == 1, timeout=10)
    assert world.api.submissions[-1]["prompt"] == "as a sketch, noir"

    menu = await message_command(world.bot, world.discord, "Imagine from image", target)
    await world.discord.wait_for(lambda: menu.acknowledged)
    result = await world.settled(
        await modal_submit(world.bot, world.discord, menu, {"prompt": "in the rain"})
    )
    assert world.api.submissions[-1]["prompt"] == "in the rain, noir"

    remix = await click(world, result.id, button_ids(result)["Remix"])
    await world.settled(
        await modal_submit(world.bot, world.discord, remix, {"prompt": "in the rain, noir"})
    )
    assert world.api.submissions[-1]["prompt"] == "in the rain, noir"


async def test_styles_and_channel_defaults_survive_a_restart(tmp_path: Path) -> None:
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord) as world:
            await add_style(world, "Noir", "{prompt}, noir", size="512*512")
            await world.answered(
                await world.command(
                    "style channel",
                    permissions=MANAGE_SERVER,
                    channel=world.channel(GENERAL),
                    style="Noir",
                )
            )
        async with bot_world(tmp_path, fake_api, fake_discord) as world:
            result = await world.settled(await world.imagine(prompt="a cat"))
            body = fake_api.submissions[-1]
            assert (body["prompt"], body["size"]) == ("a cat, noir", "512*512")
            assert embed_fields(result)["Style"] == "Noir"


async def test_a_style_that_makes_the_prompt_too_long_is_refused_clearly(world: World) -> None:
    await add_style(world, "Long", "{prompt}, " + "very " * 40 + "detailed")
    text = await refused(world, prompt="a cat " * 230, style="Long")
    assert "With the style “Long” the prompt comes to" in text and "1500" in text
    await nothing_recorded(world)

"""/prefer end to end: a member's own size and format, option sets typed as --name, and a
suffix the server may switch off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.discord_harness import DEFAULT_USER, make_user, slash
from tests.fakes.fake_discord import InteractionRecord
from tests.test_limits import MANAGE_SERVER, refused, set_limits
from tests.test_styles import add_style, nothing_recorded
from tests.world import GENERAL, GUILD_ID, World, bot_world, started_fakes

OTHER_MEMBER = make_user("other", user_id=100_000_000_000_000_007)


async def prefer(world: World, path: str, **options: Any) -> dict[str, Any]:
    """A /prefer command's answer (its options may include `name`)."""
    record: InteractionRecord = await slash(
        world.bot, world.discord, f"prefer {path}", options, guild_id=GUILD_ID, channel_id=GENERAL
    )
    answer = await world.answered(record)
    assert answer["flags"] & 64, answer  # always private
    return answer


def fields(answer: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in answer["embeds"][0]["fields"]}


async def test_personal_defaults_apply_and_an_option_wins(world: World) -> None:
    """The member's size and format are used when they pick none; an option still wins; other
    members keep the server's defaults."""
    shown = fields(await prefer(world, "set", size="768*1024", format="png"))
    assert (shown["Size"], shown["Format"]) == ("768×1024", "PNG")

    await world.settled(await world.imagine(prompt="a cat"))
    body = world.api.submissions[-1]
    assert (body["size"], body["output_format"]) == ("768*1024", "png")
    await world.settled(await world.imagine(prompt="a cat", size="512*512"))
    assert world.api.submissions[-1]["size"] == "512*512"
    await world.settled(await world.command("imagine", as_user=OTHER_MEMBER, prompt="a cat"))
    assert world.api.submissions[-1]["size"] == "1024*1024"


async def test_a_styles_size_beats_the_members_and_a_flag_beats_both(world: World) -> None:
    await prefer(world, "set", size="768*1024")
    await add_style(world, "Wide", "{prompt}, wide shot", size="1280*720")
    await world.settled(await world.imagine(prompt="a cat", style="Wide"))
    assert world.api.submissions[-1]["size"] == "1280*720"
    await world.settled(await world.imagine(prompt="a cat --ar 1:1", style="Wide"))
    assert world.api.submissions[-1]["size"] == "1024*1024"


async def test_an_option_set_expands_into_its_flags_and_words(world: World) -> None:
    answer = await prefer(world, "option set", name="--Mine", value="--ar 16:9 cinematic lighting")
    assert "`--mine`" in answer["content"]
    listed = await prefer(world, "option list")
    assert "--mine" in listed["content"] and "cinematic lighting" in listed["content"]

    result = await world.settled(await world.imagine(prompt="a harbour at dawn --mine"))
    body = world.api.submissions[-1]
    assert (body["prompt"], body["size"]) == ("a harbour at dawn cinematic lighting", "1280*720")
    assert result.embeds[0]["description"] == "a harbour at dawn cinematic lighting"

    await prefer(world, "option delete", name="mine")
    text = await refused(world, prompt="a harbour --mine")
    assert "I don't know --mine" in text


async def test_option_sets_may_not_take_a_flags_name(world: World) -> None:
    answer = await prefer(world, "option set", name="ar", value="cinematic")
    assert "already a flag" in answer["content"]
    answer = await prefer(world, "option set", name="mine", value="--tile cinematic")
    assert "tiling" in answer["content"]
    assert (
        await world.database.load_preferences(GUILD_ID, int(DEFAULT_USER["id"]))
    ).option_sets == {}


async def test_a_suffix_is_appended_inside_the_style(world: World) -> None:
    await prefer(world, "suffix", text="soft light, 35mm")
    await add_style(world, "Noir", "{prompt}, film noir")
    await world.settled(await world.imagine(prompt="a cat", style="Noir"))
    assert world.api.submissions[-1]["prompt"] == "a cat soft light, 35mm, film noir"


async def test_a_blocked_word_in_a_suffix_is_refused_before_anything_is_spent(
    world: World,
) -> None:
    await prefer(world, "suffix", text="dripping blood")
    await world.answered(
        await world.command("limits blocked add", permissions=MANAGE_SERVER, term="blood")
    )
    text = await refused(world, prompt="a knight")
    assert "“blood”" in text
    await nothing_recorded(world)


async def test_disallowed_suffixes_are_left_out_with_a_note(world: World) -> None:
    await prefer(world, "suffix", text="soft light")
    await set_limits(world, personal_suffixes=False)
    result = await world.settled(await world.imagine(prompt="a cat"))
    assert world.api.submissions[-1]["prompt"] == "a cat"
    await world.discord.wait_for(lambda: "personal suffixes" in result.content)
    assert "doesn't add" in fields(await prefer(world, "show"))["Suffix"]

    await set_limits(world, personal_suffixes=True)
    result = await world.settled(await world.imagine(prompt="a cat"))
    assert world.api.submissions[-1]["prompt"] == "a cat soft light" and result.content == ""


async def test_clear_forgets_everything(world: World) -> None:
    await prefer(world, "set", size="512*512")
    await prefer(world, "option set", name="mine", value="cinematic")
    answer = await prefer(world, "clear")
    assert answer["embeds"][0]["description"] == "Cleared."
    await world.settled(await world.imagine(prompt="a cat"))
    assert world.api.submissions[-1]["size"] == "1024*1024"


async def test_preferences_survive_a_restart(tmp_path: Path) -> None:
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord) as world:
            await prefer(world, "set", format="webp")
            await prefer(world, "suffix", text="soft light")
            await prefer(world, "option set", name="tall", value="--ar 9:16")
        async with bot_world(tmp_path, fake_api, fake_discord) as world:
            await world.settled(await world.imagine(prompt="a tower --tall"))
            body = fake_api.submissions[-1]
            assert (body["prompt"], body["size"], body["output_format"]) == (
                "a tower soft light",
                "720*1280",
                "webp",
            )

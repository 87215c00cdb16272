"""Prompt history as /imagine's prompt is typed, and the Favourite button, end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.fakes.fake_discord import FakeMessage
from tests.test_restart import STRANGER, button_ids, click
from tests.world import World, bot_world, started_fakes


async def made(world: World, prompt: str, **options: Any) -> FakeMessage:
    return await world.settled(await world.imagine(prompt=prompt, size="512*512", **options))


async def offered(world: World, typed: str, **options: Any) -> list[tuple[str, str]]:
    choices = await world.autocomplete("imagine", "prompt", prompt=typed, **options)
    return [(choice["name"], choice["value"]) for choice in choices]


async def test_history_offers_the_members_own_prompts_favourites_first(world: World) -> None:
    """Typing "CAT" offers my favourite (a stranger's image I starred) first, then my own
    recent cat prompts, newest first; never the stranger's own prompts. The stranger is
    offered only theirs, my favourite not starred for them."""
    await made(world, "a red cat")
    await made(world, "a dog")
    await made(world, "A Blue Cat")
    await made(world, "a stranger's cat", as_user=STRANGER)
    green = await made(world, "a green cat", as_user=STRANGER)
    await click(world, green.id, button_ids(green)["Favourite"])

    assert await offered(world, "CAT") == [
        ("⭐ a green cat", "a green cat"),
        ("A Blue Cat", "A Blue Cat"),
        ("a red cat", "a red cat"),
    ]
    assert await offered(world, "do") == [("a dog", "a dog")]
    assert await offered(world, "cat", as_user=STRANGER) == [
        ("a green cat", "a green cat"),
        ("a stranger's cat", "a stranger's cat"),
    ]


async def test_history_offers_at_most_25_prompts_that_fit_a_choice(world: World) -> None:
    """Of 27 matching prompts, 25 are offered, each once; a prompt too long to be a choice's
    value (over 100 characters) is left out rather than cut."""
    long_prompt = "a cat " + "very " * 20 + "long"
    assert len(long_prompt) > 100
    records = [await world.imagine(prompt=f"cat {n}", size="512*512") for n in range(26)]
    records.append(await world.imagine(prompt=long_prompt, size="512*512"))
    await asyncio.gather(*(world.settled(record, within=30) for record in records))
    # Used again once the others are recorded, so that it is surely the most recent.
    await world.settled(await world.imagine(prompt="cat 3", size="512*512"))

    choices = await offered(world, "cat")
    assert len(choices) == 25
    assert len({value for _, value in choices}) == 25
    assert long_prompt not in {value for _, value in choices}
    assert all(len(name) <= 100 and len(value) <= 100 for name, value in choices)
    assert choices[0] == ("cat 3", "cat 3")  # the most recently used comes first


async def test_favourite_toggles_privately_and_survives_a_restart(tmp_path: Path) -> None:
    """Favourite adds the result's prompt to my favourites and says so privately; after a
    restart it is still starred, and a second click removes it (saying so) from the
    favourites, leaving it a recent prompt."""
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord) as first:
            result = await made(first, "a lighthouse at dusk")
            favourite = button_ids(result)["Favourite"]
            added = await click(first, result.id, favourite)
            assert added.response_data is not None and added.response_data["flags"] & 64
            assert "Added to your favourites" in added.response_data["content"]
            assert await offered(first, "light") == [
                ("⭐ a lighthouse at dusk", "a lighthouse at dusk")
            ]

        async with bot_world(tmp_path, fake_api, fake_discord) as second:
            assert await offered(second, "light") == [
                ("⭐ a lighthouse at dusk", "a lighthouse at dusk")
            ]
            removed = await click(second, result.id, favourite)
            assert removed.response_data is not None and removed.response_data["flags"] & 64
            assert "Removed from your favourites" in removed.response_data["content"]
            assert await offered(second, "light") == [
                ("a lighthouse at dusk", "a lighthouse at dusk")
            ]
        assert fake_discord.schema_errors == []

"""Flags in the prompt: --ar, --seed and --format become options; others are explained."""

from __future__ import annotations

import pytest

from bot.core.prompt_flags import nearest_size, parse_prompt_flags
from bot.core.refusals import Refused
from tests.world import World


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        (16 / 9, "1280*720"),
        (9 / 16, "720*1280"),
        (1.0, "1024*1024"),
        (4 / 3, "1024*768"),
        (3 / 4, "768*1024"),
        (21 / 9, "1280*720"),
        (5 / 4, "1024*768"),
    ],
)
def test_a_shape_picks_the_nearest_size(ratio: float, size: str) -> None:
    """Each aspect ratio maps to the size of the nearest shape, the largest of those."""
    assert nearest_size(ratio) == size


def test_flags_leave_the_prompt_and_become_options() -> None:
    """Known flags are read in any case and either spelling, and taken out of the text."""
    flags = parse_prompt_flags("a castle at dusk --AR 16:9 --seed=42 —format PNG")
    assert flags.prompt == "a castle at dusk"
    assert (flags.size, flags.seed, flags.output_format) == ("1280*720", 42, "png")
    assert parse_prompt_flags("no flags -- here - at all").prompt == "no flags -- here - at all"


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("a cat --no dogs", "negative prompts"),
        ("a cat --tile", "tiling"),
        ("a cat --stylize 250", "stylize"),
        ("a cat --chaos 40", "chaos"),
        ("a cat --v 6", "model version"),
        ("a cat --banana", "don't know --banana"),
        ("a cat --ar wide", "--ar takes a shape"),
        ("a cat --seed -5", "--seed takes a whole number"),
        ("a cat --format gif", "--format takes jpeg, png or webp"),
    ],
)
def test_flags_it_cannot_honour_are_explained(prompt: str, words: str) -> None:
    """Midjourney's other flags, unknown ones and unreadable values get a sentence."""
    with pytest.raises(Refused) as refused:
        parse_prompt_flags(prompt)
    assert words in refused.value.message


async def test_an_aspect_flag_submits_that_size_without_the_flag(world: World) -> None:
    """`--ar 16:9` in /imagine submits 1280*720, and the prompt sent has no flag in it."""
    message = await world.settled(await world.imagine(prompt="a harbour --ar 16:9 --seed 7"))
    assert message.attachments
    sent = world.api.submissions[-1]
    assert (sent["size"], sent["seed"], sent["prompt"]) == ("1280*720", 7, "a harbour")


async def test_an_unsupported_flag_spends_nothing(world: World) -> None:
    """`--no` is explained privately before anything reaches the API."""
    answer = await world.answered(await world.imagine(prompt="a harbour --no boats"))
    assert answer["flags"] & 64 and "negative prompts" in answer["content"]
    assert world.api.requests["submit"] == 0


async def test_an_explicit_option_wins_over_a_flag_and_says_so(world: World) -> None:
    """Given both size and --ar, the size option is used and the result says so."""
    record = await world.imagine(prompt="a harbour --ar 16:9", size="512*512")
    message = await world.settled(record)
    assert world.api.submissions[-1]["size"] == "512*512"
    assert "used the option" in message.content

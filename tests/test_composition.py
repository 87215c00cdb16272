"""Composing the prompt that is sent: option sets, flags, suffix and style, in that order, and
which size and format win."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core import composition
from bot.core.composition import Asked, Composition, compose
from bot.core.models import MemberPreferences, Style
from bot.core.refusals import Refused
from bot.core.requests import MAX_PROMPT_LENGTH

NOIR = Style(1, "Noir", "{prompt}, film noir, high contrast", "1280*720")
MINE = MemberPreferences(
    size="768*768",
    output_format="png",
    suffix="soft light",
    option_sets={"mine": "--ar 9:16 cinematic", "sq": "--ar 1:1"},
)


def composed(
    prompt: str, style: Style | None = NOIR, allowed: bool = True, **asked: Any
) -> Composition:
    return compose(
        Asked(prompt, **asked),
        style=style,
        preferences=MINE,
        suffix_allowed=allowed,
    )


def test_option_sets_expand_then_flags_leave_then_suffix_then_style() -> None:
    """`--mine` brings its flag and its words; the suffix goes inside the style's slot."""
    result = composed("a fox --mine")
    assert result.prompt == "a fox cinematic soft light, film noir, high contrast"
    assert result.size == "720*1280"  # the option set's --ar beats the style's size
    assert result.style_name == "Noir" and not result.suffix_ignored


def test_the_members_preferred_count_is_passed_on() -> None:
    """For the entry points to use when the member gives no count."""
    assert composed("a fox").count is None
    several = compose(
        Asked("a fox"), style=None, preferences=MemberPreferences(count=3), suffix_allowed=True
    )
    assert several.count == 3


def test_size_precedence() -> None:
    """Explicit option > prompt flag > kept size > style's size > member's > server's."""
    assert composed("a fox --ar 1:1", size="512*512").size == "512*512"
    assert composed("a fox --ar 1:1", kept_size="768*1024").size == "1024*1024"
    assert composed("a fox", kept_size="768*1024").size == "768*1024"
    assert composed("a fox").size == "1280*720"
    assert composed("a fox", style=None).size == "768*768"
    bare = compose(Asked("a fox"), style=None, preferences=MemberPreferences(), suffix_allowed=True)
    assert bare.size is None and bare.output_format is None  # admission fills the server's


def test_format_precedence() -> None:
    """Explicit option > prompt flag > member's; a style has no format."""
    assert composed("a fox --format webp", output_format="jpeg").output_format == "jpeg"
    assert composed("a fox --format webp").output_format == "webp"
    assert composed("a fox").output_format == "png"


def test_an_option_that_beats_a_different_flag_is_reported() -> None:
    assert composed("a fox --ar 1:1", size="512*512").overridden == ("size",)
    assert composed("a fox --ar 1:1", size="1024*1024").overridden == ()


def test_a_disallowed_suffix_is_left_out_and_said_so() -> None:
    result = composed("a fox", style=None, allowed=False)
    assert result.prompt == "a fox" and result.suffix_ignored


def test_a_prompt_from_a_result_gets_no_second_style_or_suffix() -> None:
    """A Remix's prefilled prompt is already composed; option sets still expand."""
    result = composed("a fox, film noir --sq", style=None, fresh=False)
    assert result.prompt == "a fox, film noir" and result.size == "1024*1024"
    assert not result.suffix_ignored


def test_an_unknown_flag_that_is_no_option_set_is_still_explained() -> None:
    with pytest.raises(Refused, match="I don't know --theirs"):
        composed("a fox --theirs")
    with pytest.raises(Refused, match="negative prompts"):
        composed("a fox --no cats")


def test_a_style_that_makes_the_prompt_too_long_says_so() -> None:
    prompt = "x" * (MAX_PROMPT_LENGTH - 10)
    with pytest.raises(Refused, match="With the style “Noir” and your suffix the prompt comes"):
        composed(prompt)
    assert composed(prompt, style=None, allowed=False).prompt == prompt


def test_an_empty_prompt_is_refused_even_with_a_style() -> None:
    with pytest.raises(Refused, match="empty"):
        composed("--ar 1:1")


def test_braces_in_the_prompt_are_kept_as_typed() -> None:
    assert composition.apply_template("{prompt} in {prompt}", "a {x}") == "a {x} in a {x}"


@pytest.mark.parametrize(
    ("template", "problem"),
    [("film noir", "{prompt}"), ("{prompt} --ar 16:9", "default size"), ("{prompt}" * 200, "1000")],
)
def test_bad_templates_are_refused(template: str, problem: str) -> None:
    with pytest.raises(Refused, match=problem):
        composition.template(template)


@pytest.mark.parametrize("name", ["", "none", "NONE", "a" * 33, "no<@1>", "x*"])
def test_bad_style_names_are_refused(name: str) -> None:
    with pytest.raises(Refused):
        composition.style_name(name)


def test_style_names_are_cleaned() -> None:
    assert composition.style_name("  Film   Noir ") == "Film Noir"
    assert composition.style_name("Ghibli-2_b") == "Ghibli-2_b"


@pytest.mark.parametrize("name", ["ar", "seed", "format", "fmt", "no", "tile", "v", "my set", "ä"])
def test_option_set_names_may_not_be_flags_or_other_than_letters(name: str) -> None:
    with pytest.raises(Refused):
        composition.option_set_name(name)


def test_option_set_texts_hold_only_flags_that_can_be_honoured() -> None:
    assert composition.option_set_name("--Mine") == "mine"
    assert composition.option_set_value(" --ar 16:9   cinematic ") == "--ar 16:9 cinematic"
    with pytest.raises(Refused, match="tiling"):
        composition.option_set_value("--tile")


def test_a_suffix_holds_no_flags() -> None:
    with pytest.raises(Refused, match="option set"):
        composition.suffix("soft light --ar 1:1")

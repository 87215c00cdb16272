"""Flags typed into a prompt, as members coming from Midjourney write them: `--ar 16:9`,
`--seed 42`, `--format png`. Those this API can honour become options and leave the prompt;
the rest are refused with a sentence saying why, before anything is spent."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from bot.core.refusals import Refused
from bot.core.requests import FORMATS, MAX_SEED, SIZES, OutputFormat, Size
from bot.core.texts import N_

# A flag and its value, if any: `--ar 16:9`, `--seed=7`, `--tile`; an em dash counts as the
# two hyphens phones turn them into.
_FLAG = re.compile(r"(?:^|\s)(?:--|\u2014)([a-zA-Z]+)(?:[ =]+(?!--|\u2014)([^\s]+))?")
_RATIO = re.compile(r"^(\d{1,4})[:x/](\d{1,4})$")
# What Midjourney offers and this model cannot do, a whole sentence each (so that each
# translates well), the flag as typed in place of {flag}.
_STYLIZE = N_("--{flag} asks for a stylize setting, which this model can't do.")
_CHAOS = N_("--{flag} asks for a chaos setting, which this model can't do.")
_VERSION = N_("--{flag} asks for choosing a model version, which this model can't do.")
_QUALITY = N_("--{flag} asks for a quality setting, which this model can't do.")
_UNSUPPORTED = {
    "no": N_("--{flag} asks for negative prompts, which this model can't do."),
    "tile": N_("--{flag} asks for tiling patterns, which this model can't do."),
    "stylize": _STYLIZE,
    "s": _STYLIZE,
    "chaos": _CHAOS,
    "c": _CHAOS,
    "v": _VERSION,
    "version": _VERSION,
    "niji": N_("--{flag} asks for the niji model, which this model can't do."),
    "q": _QUALITY,
    "quality": _QUALITY,
    "iw": N_(
        "--{flag} asks for an image weight (use the strength option), which this model can't do."
    ),
    "weird": N_("--{flag} asks for a weird setting, which this model can't do."),
}
# Every flag name that means something here, honoured or explained: none may name an option set.
RESERVED_FLAG_NAMES = frozenset({"ar", "aspect", "seed", "format", "fmt", *_UNSUPPORTED})


@dataclass(frozen=True)
class PromptFlags:
    """What the prompt asked for besides its words."""

    prompt: str  # the text without its flags
    size: Size | None = None
    seed: int | None = None
    output_format: OutputFormat | None = None
    flags: tuple[str, ...] = field(default=())  # the flags as typed, for messages


def parse_prompt_flags(prompt: str) -> PromptFlags:
    """Split flags from the prompt. Raises Refused for a flag this API cannot honour, or one
    whose value it cannot read."""
    size: Size | None = None
    seed: int | None = None
    output_format: OutputFormat | None = None
    typed: list[str] = []
    for match in _FLAG.finditer(prompt):
        name, value = match.group(1).lower(), match.group(2)
        typed.append(match.group(0).strip())
        if name in ("ar", "aspect"):
            size = nearest_size(_ratio(value))
        elif name == "seed":
            seed = _seed(value)
        elif name in ("format", "fmt"):
            output_format = _format(value)
        elif name in _UNSUPPORTED:
            raise Refused(_UNSUPPORTED[name], flag=name)
        else:
            raise Refused(
                N_("I don't know --{flag}. I understand --ar W:H, --seed N and --format."),
                flag=name[:20],
            )
    text = " ".join(_FLAG.sub(" ", prompt).split())
    return PromptFlags(text, size, seed, output_format, tuple(typed))


def has_flags(text: str) -> bool:
    """Whether `text` holds anything written as a flag (`--word`)."""
    return _FLAG.search(text) is not None


def nearest_size(ratio: float) -> Size:
    """The size whose shape is nearest `ratio` (width over height); the largest of those."""

    def shape_distance(size: Size) -> tuple[float, int]:
        width, height = (int(side) for side in size.split("*"))
        return abs(math.log(width / height) - math.log(ratio)), -width * height

    return min(SIZES, key=shape_distance)


def _ratio(value: str | None) -> float:
    match = _RATIO.match(value or "")
    if not match or not int(match.group(1)) or not int(match.group(2)):
        raise Refused(N_("--ar takes a shape such as 16:9, 1:1 or 9:16."))
    return int(match.group(1)) / int(match.group(2))


def _seed(value: str | None) -> int:
    if value is None or not value.isdigit() or int(value) > MAX_SEED:
        raise Refused(N_("--seed takes a whole number from 0 to {limit}."), limit=MAX_SEED)
    return int(value)


def _format(value: str | None) -> OutputFormat:
    name = (value or "").lower().removeprefix(".")
    name = "jpeg" if name == "jpg" else name
    for known in FORMATS:
        if name == known:
            return known
    raise Refused(N_("--format takes jpeg, png or webp."))

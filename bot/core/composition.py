"""The prompt that is sent, composed from what a member typed, their option sets and suffix,
and a server style; and which size and format win. Pure: every input is handed in.

Order: option sets are expanded, then flags are taken out, then the personal suffix is
appended, then the style's template is applied to the lot. Size: an explicit option, else a
prompt flag, else a size kept from an earlier image, else the style's, else the member's, else
the server's (filled in later by admission); format likewise, without the style.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.models import MemberPreferences, Style
from bot.core.prompt_flags import RESERVED_FLAG_NAMES, has_flags, parse_prompt_flags
from bot.core.refusals import Refused
from bot.core.requests import FORMATS, MAX_PROMPT_LENGTH, SIZES, OutputFormat, Size
from bot.core.texts import N_

PROMPT_SLOT = "{prompt}"
MAX_STYLE_NAME = 32
MAX_TEMPLATE = 1000
MAX_OPTION_SET_NAME = 20
MAX_OPTION_SET_VALUE = 300
MAX_SUFFIX = 300
# A member may type this as the style to use none, not even the channel's default.
NO_STYLE = "none"
# `--name` standing alone (no value is taken: an option set brings its own).
_OPTION_SET = re.compile(r"(?<!\S)(?:--|\u2014)([a-zA-Z]+)(?![^\s])")


@dataclass(frozen=True)
class Asked:
    """What a member asked for at one entry point."""

    prompt: str
    style: str | None = None  # a style named explicitly
    size: str | None = None  # explicit options
    output_format: str | None = None
    seed: int = -1
    # An earlier image's size and format, kept by a Remix: a flag beats them, nothing else.
    kept_size: str | None = None
    kept_format: str | None = None
    # False for a prompt taken from a result, already composed: no style or suffix again.
    fresh: bool = True


@dataclass(frozen=True)
class Composition:
    prompt: str  # the final prompt, as it will be sent
    size: Size | None  # None: the server's default
    output_format: OutputFormat | None
    seed: int
    style_name: str | None
    count: int | None = None  # how many images the member prefers; None: one
    overridden: tuple[str, ...] = ()  # options that beat a different flag for the same thing
    suffix_ignored: bool = False  # the member has a suffix, and the server does not allow it


def compose(
    asked: Asked,
    *,
    style: Style | None,
    preferences: MemberPreferences,
    suffix_allowed: bool,
) -> Composition:
    """The final prompt and options. Raises Refused for a flag that cannot be honoured, an
    empty prompt, or a style or suffix that makes the prompt too long."""
    flags = parse_prompt_flags(expand_option_sets(asked.prompt, preferences.option_sets))
    if not flags.prompt:
        raise Refused(N_("The prompt is empty: describe the image you want."))
    suffix = preferences.suffix if asked.fresh else None
    text = f"{flags.prompt} {suffix}" if suffix and suffix_allowed else flags.prompt
    final = apply_template(style.template, text) if style else text
    if len(final) > MAX_PROMPT_LENGTH >= len(flags.prompt):
        raise _too_long(style, text != flags.prompt, len(final))
    seed = asked.seed if asked.seed != -1 else flags.seed
    overridden = tuple(
        name
        for name, option, flag in (
            ("size", asked.size, flags.size),
            ("format", asked.output_format, flags.output_format),
            ("seed", asked.seed if asked.seed != -1 else None, flags.seed),
        )
        if option is not None and flag is not None and option != flag
    )
    return Composition(
        prompt=final,
        size=_size(
            asked.size,
            flags.size,
            asked.kept_size,
            style.default_size if style else None,
            preferences.size,
        ),
        output_format=_format(
            asked.output_format, flags.output_format, asked.kept_format, preferences.output_format
        ),
        seed=-1 if seed is None else seed,
        style_name=style.name if style else None,
        count=preferences.count,
        overridden=overridden,
        suffix_ignored=bool(suffix) and not suffix_allowed,
    )


def expand_option_sets(prompt: str, option_sets: Mapping[str, str]) -> str:
    """Each `--name` of an option set replaced by its text, once (an option set's text names
    no other); any other `--word` is left for the flag parser to honour or explain."""

    def expanded(match: re.Match[str]) -> str:
        return option_sets.get(match.group(1).lower(), match.group(0))

    return _OPTION_SET.sub(expanded, prompt) if option_sets else prompt


def apply_template(template: str, text: str) -> str:
    """The template with the member's text in its slot (every slot, if it has several)."""
    return " ".join(template.replace(PROMPT_SLOT, text).split())


def style_name(name: str) -> str:
    """A valid style name: letters, digits, spaces, - and _, up to 32 characters."""
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_STYLE_NAME or cleaned.casefold() == NO_STYLE:
        raise Refused(
            N_("A style name takes 1 to {limit} characters, and not “none”."), limit=MAX_STYLE_NAME
        )
    if not all(char.isalnum() or char in " -_" for char in cleaned):
        raise Refused(N_("A style name takes letters, digits, spaces, - and _ only."))
    return cleaned


def template(text: str) -> str:
    """A valid template: with a {prompt} slot, no flags, and room left for the prompt."""
    cleaned = text.strip()
    if PROMPT_SLOT not in cleaned:
        raise Refused(
            N_("A style needs {slot} where the member's words go, e.g. {slot}, oil."),
            slot=PROMPT_SLOT,
        )
    if len(cleaned) > MAX_TEMPLATE:
        raise Refused(N_("A style takes up to {limit} characters."), limit=MAX_TEMPLATE)
    if has_flags(cleaned):
        raise Refused(N_("A style can't hold flags such as --ar: give it a default size instead."))
    return cleaned


def default_size(size: str | None) -> Size | None:
    return next((known for known in SIZES if known == size), None) if size else None


def option_set_name(name: str) -> str:
    """A valid option set name: letters only, not one of the real flags."""
    cleaned = name.strip().removeprefix("--").lower()
    if not cleaned.isascii() or not cleaned.isalpha() or len(cleaned) > MAX_OPTION_SET_NAME:
        raise Refused(
            N_("An option set's name is 1 to {limit} letters, e.g. mine."),
            limit=MAX_OPTION_SET_NAME,
        )
    if cleaned in RESERVED_FLAG_NAMES:
        raise Refused(N_("--{name} is already a flag: pick another name."), name=cleaned)
    return cleaned


def option_set_value(value: str) -> str:
    """A valid option set text: flags it holds must be ones the bot honours."""
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > MAX_OPTION_SET_VALUE:
        raise Refused(
            N_("An option set holds 1 to {limit} characters."), limit=MAX_OPTION_SET_VALUE
        )
    parse_prompt_flags(cleaned)  # refuses a flag that could never be honoured, now
    return cleaned


def suffix(text: str) -> str:
    """A valid personal suffix: words only (flags belong in an option set)."""
    cleaned = " ".join(text.split())
    if len(cleaned) > MAX_SUFFIX:
        raise Refused(N_("A suffix takes up to {limit} characters."), limit=MAX_SUFFIX)
    if has_flags(cleaned):
        raise Refused(
            N_("A suffix can't hold flags: put them in an option set (/prefer option set).")
        )
    return cleaned


def clean_text(text: str, limit: int) -> str:
    """Something a member typed, on one line and cut short, to echo back in a sentence."""
    return " ".join(text.split())[:limit]


def _too_long(style: Style | None, with_suffix: bool, length: int) -> Refused:
    """The prompt grew past the service's limit because of the style, the suffix, or both."""
    params: dict[str, object] = {"length": length, "limit": MAX_PROMPT_LENGTH}
    if style is not None and with_suffix:
        template = N_(
            "With the style “{style}” and your suffix the prompt comes to {length} characters,"
            " over the {limit} the image service takes: shorten it."
        )
    elif style is not None:
        template = N_(
            "With the style “{style}” the prompt comes to {length} characters, over the {limit}"
            " the image service takes: shorten it."
        )
    else:
        template = N_(
            "With your suffix the prompt comes to {length} characters, over the {limit} the"
            " image service takes: shorten it."
        )
    if style is not None:
        params["style"] = style.name
    return Refused(template, **params)


def _size(*choices: str | None) -> Size | None:
    return next((size for size in map(default_size, choices) if size is not None), None)


def _format(*choices: str | None) -> OutputFormat | None:
    for choice in choices:
        for known in FORMATS:
            if choice == known:
                return known
    return None

"""How server styles and members' preferences look in Discord, and their texts."""

from __future__ import annotations

from collections.abc import Mapping

import discord
from discord import app_commands

from bot.core.composition import Composition
from bot.core.models import MemberPreferences, Style
from cogs._i18n import N_, _
from cogs._render import EMBED_COLOUR, SIZE_CHOICES, options_won_line, size_label, trimmed

NO_DEFAULT_SIZE = "none"
# /style add and edit: any size, or (edit) none at all.
STYLE_SIZE_CHOICES = [
    *SIZE_CHOICES,
    app_commands.Choice(name=N_("No default size"), value=NO_DEFAULT_SIZE),
]
SUFFIX_IGNORED = N_("This server doesn't add personal suffixes, so yours was left out.")
TEMPLATE_PLACEHOLDER = N_("{prompt}, oil painting, soft light")
SAVED = N_("Saved.")
SUFFIX_SAVED = N_("Suffix saved: it is added to the end of your prompts here.")
SUFFIX_REMOVED = N_("Suffix removed.")
CLEARED = N_("Cleared.")
NOTHING_TO_CLEAR = N_("You had nothing to clear.")


def composition_note(composition: Composition) -> str | None:
    """Above a result: what the member should know about how their prompt was composed."""
    lines = []
    if composition.overridden:
        lines.append(options_won_line(list(composition.overridden)))
    if composition.suffix_ignored:
        lines.append(_(SUFFIX_IGNORED))
    return "\n".join(lines) or None


def _shown(text: str, limit: int) -> str:
    return trimmed(discord.utils.escape_markdown(text), limit)


def styles_embed(
    styles: list[Style], channel_defaults: dict[int, str], note: str | None = None
) -> discord.Embed:
    """Every style of the server, its default size and the channels that use it by default."""
    embed = discord.Embed(
        title=_("Styles in this server"),
        description=note or (_("None yet: add one with /style add.") if not styles else None),
        colour=EMBED_COLOUR,
    )
    for style in styles[:25]:  # an embed holds 25 fields; a server may keep more styles
        channels = " ".join(
            f"<#{channel_id}>"
            for channel_id, name in sorted(channel_defaults.items())
            if name == style.name
        )
        details = [f"`{_shown(style.template, 300)}`"]
        if style.default_size:
            details.append(_("Size: {size}", size=size_label(style.default_size)))
        if channels:
            details.append(_("Default in {channels}", channels=channels))
        embed.add_field(name=style.name, value=trimmed("\n".join(details), 1024), inline=False)
    if len(styles) > 25:
        embed.set_footer(text=_("and {count} more", count=len(styles) - 25))
    return embed


def style_saved_line(style: Style, *, editing: bool) -> str:
    if style.default_size:
        size = size_label(style.default_size)
        if editing:
            return _(
                "Style “{name}” saved, default size {size}. Members pick it with /imagine style:.",
                name=style.name,
                size=size,
            )
        return _(
            "Style “{name}” added, default size {size}. Members pick it with /imagine style:.",
            name=style.name,
            size=size,
        )
    if editing:
        return _("Style “{name}” saved. Members pick it with /imagine style:.", name=style.name)
    return _("Style “{name}” added. Members pick it with /imagine style:.", name=style.name)


def style_deleted_line(style: Style) -> str:
    return _("Style “{name}” deleted (and with it any channel default it was).", name=style.name)


def channel_style_line(channel: discord.abc.GuildChannel, style: Style | None) -> str:
    if style is None:
        return _("{channel} has no default style now.", channel=channel.mention)
    return _(
        "/imagine in {channel} uses “{name}” unless a member picks another.",
        channel=channel.mention,
        name=style.name,
    )


def preferences_embed(
    preferences: MemberPreferences, *, suffix_allowed: bool, note: str | None = None
) -> discord.Embed:
    """A member's own defaults in this server, for /prefer."""
    embed = discord.Embed(title=_("Your preferences here"), description=note, colour=EMBED_COLOUR)
    size = size_label(preferences.size) if preferences.size else _("the server's")
    output_format = (
        preferences.output_format.upper() if preferences.output_format else _("the server's")
    )
    embed.add_field(name=_("Size"), value=size)
    embed.add_field(name=_("Format"), value=output_format)
    embed.add_field(name=_("Images per prompt"), value=str(preferences.count or 1))
    suffix = f"`{_shown(preferences.suffix, 300)}`" if preferences.suffix else _("none")
    if preferences.suffix and not suffix_allowed:
        suffix += " " + _("(this server doesn't add suffixes)")
    embed.add_field(name=_("Suffix"), value=suffix, inline=False)
    embed.add_field(
        name=_("Option sets"), value=option_sets_text(preferences.option_sets), inline=False
    )
    return embed


def option_sets_text(option_sets: Mapping[str, str]) -> str:
    if not option_sets:
        return _("none: add one with /prefer option set")
    lines = [f"`--{name}` → `{_shown(value, 200)}`" for name, value in option_sets.items()]
    return trimmed("\n".join(lines), 1024)


def option_set_saved_line(name: str, value: str) -> str:
    return _(
        "Saved: `--{name}` in a prompt now stands for `{value}`.",
        name=name,
        value=_shown(value, 300),
    )


def option_set_deleted_line(name: str) -> str:
    return _("Deleted `--{name}`.", name=name)

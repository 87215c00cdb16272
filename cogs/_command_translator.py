"""Command names, descriptions, option names and choices in every language with a catalogue:
discord.py asks `translate` for each string, for each Discord locale, when it syncs."""

from __future__ import annotations

import logging
import re

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from cogs._i18n import ENGLISH, language_for, lookup

log = logging.getLogger(__name__)

# The catalogue context of each kind of name (descriptions and choices need none).
NAME_CONTEXTS = {
    Where.command_name: "command",
    Where.group_name: "command",
    Where.parameter_name: "option",
}
CONTEXT_MENU = "context menu"
# Discord's rule for slash command and option names (in a locale, too): lowercase, no spaces.
VALID_NAME = re.compile(r"[-_'\w]{1,32}")


def is_valid_name(text: str) -> bool:
    """Whether Discord accepts `text` as a slash command or option name."""
    return text == text.lower() and VALID_NAME.fullmatch(text) is not None


class CatalogueTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The catalogue's translation; None (Discord shows the English) where there is none,
        or where a translated name breaks Discord's rules."""
        language = language_for(locale)
        if language == ENGLISH:
            return None
        where = NAME_CONTEXTS.get(context.location)
        if where == "command" and isinstance(context.data, app_commands.ContextMenu):
            where = CONTEXT_MENU
        text = lookup(string.message, language, where)
        if text == string.message:
            return None
        if where in ("command", "option") and not is_valid_name(text):
            log.warning("the %s name %r is not a valid %s name in Discord", language, text, where)
            return None
        return text

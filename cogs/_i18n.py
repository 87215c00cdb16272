"""The bot's languages: gettext catalogues a translator extends without touching code, the
language of whoever the current task answers, and `_()`, which translates into it.

Every entry point names the language once (`use_locale`): the command tree and the result
buttons from the member's Discord locale, modals likewise, mentions and recovered jobs from the
server's preferred locale. A task started from there inherits it. Texts are English in the code;
a module-level text is marked with `N_` and translated where it is shown, with `_()`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path

import discord
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.core.texts import N_

__all__ = ["ENGLISH", "NC_", "N_", "_", "catalogues", "current_language", "lookup", "use_locale"]

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "bot"
ENGLISH = "en"  # the language of the code: no catalogue, every text is its own translation

_language: ContextVar[str] = ContextVar("language", default=ENGLISH)
_strict = False


class MissingTranslation(LookupError):
    """Strict mode (the tests): a text was shown that some catalogue does not translate."""


def NC_(context: str, message: str) -> str:
    """Marks a name with its context ("command", "option", "context menu"): discord.py asks
    the translator for it, with that context, when commands are synced."""
    return message


@cache
def catalogues() -> dict[str, Catalog]:
    """Every catalogue shipped, by language (its folder's name: de, fr, pt_BR...), read once."""
    found: dict[str, Catalog] = {}
    for path in sorted(LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = path.parent.parent.name
        with path.open("rb") as file:
            found[language] = read_po(file, locale=language, domain=DOMAIN)
    return found


def language_for(locale: discord.Locale | str | None) -> str:
    """The catalogue for a Discord locale: pt-BR reads pt_BR, else pt; es-ES and es-419 read
    es; English when there is none."""
    code = str(locale or ENGLISH)
    shipped = catalogues()
    for candidate in (code.replace("-", "_"), code.split("-")[0]):
        if candidate in shipped:
            return candidate
    return ENGLISH


def use_locale(locale: discord.Locale | str | None) -> None:
    """From here on, this task (and every task it starts) answers in `locale`'s language."""
    _language.set(language_for(locale))


@contextlib.contextmanager
def using_locale(locale: discord.Locale | str | None) -> Iterator[None]:
    """For a moment, another audience: a server's moderators rather than the member."""
    token = _language.set(language_for(locale))
    try:
        yield
    finally:
        _language.reset(token)


def current_language() -> str:
    """The current task's language, a Babel locale name."""
    return _language.get()


def lookup(message: str, into: str, context: str | None = None) -> str:
    """`message` in language `into`; the English when its catalogue does not translate it."""
    if _strict:
        _require_everywhere(message, context)
    catalogue = catalogues().get(into)
    entry = catalogue.get(message, context=context) if catalogue is not None else None
    if entry is None or entry.fuzzy or not isinstance(entry.string, str) or not entry.string:
        return message
    return entry.string


def _(message: str, **params: object) -> str:
    """`message` in the current language, its `{name}` places filled in from `params`."""
    text = lookup(message, _language.get())
    return text.format(**params) if params else text


def require_translations(on: bool = True) -> None:
    """Strict mode, for the tests: a text any catalogue leaves untranslated raises."""
    global _strict
    _strict = on


def _require_everywhere(message: str, context: str | None) -> None:
    for language, catalogue in catalogues().items():
        entry = catalogue.get(message, context=context)
        if entry is None or not entry.string:
            where = f" (context {context!r})" if context else ""
            raise MissingTranslation(f"no {language} translation of {message!r}{where}")

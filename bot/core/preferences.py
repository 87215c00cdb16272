"""Each member's own defaults in a server: size, format, how many images, a suffix for every
prompt, and option sets (`--name` for a few words and flags)."""

from __future__ import annotations

from bot.core import composition
from bot.core.models import NO_PREFERENCES, MemberPreferences
from bot.core.ports import PreferenceStore
from bot.core.refusals import Refused
from bot.core.requests import FORMATS
from bot.core.texts import N_

MAX_OPTION_SETS = 25
MAX_COUNT = 4
NOT_A_SIZE = N_("That is not one of the sizes /imagine offers.")


class PreferenceBook:
    def __init__(self, store: PreferenceStore) -> None:
        self._store = store

    async def of(self, guild_id: int | None, user_id: int) -> MemberPreferences:
        """A member's preferences; none in direct messages (they are kept per server)."""
        if guild_id is None:
            return NO_PREFERENCES
        return await self._store.load_preferences(guild_id, user_id)

    async def set_defaults(
        self,
        guild_id: int,
        user_id: int,
        *,
        size: str | None = None,
        output_format: str | None = None,
        count: int | None = None,
    ) -> MemberPreferences:
        """Change the defaults given; those left out stay as they are."""
        if count is not None and not 1 <= count <= MAX_COUNT:
            raise Refused(N_("Count goes from 1 to {limit}."), limit=MAX_COUNT)
        if size is not None and composition.default_size(size) is None:
            raise Refused(NOT_A_SIZE)
        if output_format is not None and output_format not in FORMATS:
            raise Refused(N_("The format is one of jpeg, png and webp."))
        changes = {
            name: value
            for name, value in (("size", size), ("output_format", output_format), ("count", count))
            if value is not None
        }
        if not changes:
            raise Refused(N_("Give a size, a format or a count."))
        await self._store.update_preferences(guild_id, user_id, changes)
        return await self.of(guild_id, user_id)

    async def set_suffix(self, guild_id: int, user_id: int, text: str | None) -> str | None:
        """Set the suffix (cleaned), or clear it with None or blank text."""
        cleaned = composition.suffix(text or "") or None
        await self._store.update_preferences(guild_id, user_id, {"suffix": cleaned})
        return cleaned

    async def set_option_set(
        self, guild_id: int, user_id: int, name: str, value: str
    ) -> tuple[str, str]:
        """Add or replace an option set; returns its name and text, cleaned."""
        cleaned_name = composition.option_set_name(name)
        cleaned_value = composition.option_set_value(value)
        existing = (await self.of(guild_id, user_id)).option_sets
        if cleaned_name not in existing and len(existing) >= MAX_OPTION_SETS:
            raise Refused(
                N_("You can keep {limit} option sets: delete one first."), limit=MAX_OPTION_SETS
            )
        await self._store.set_option_set(guild_id, user_id, cleaned_name, cleaned_value)
        return cleaned_name, cleaned_value

    async def delete_option_set(self, guild_id: int, user_id: int, name: str) -> str:
        cleaned = name.strip().removeprefix("--").lower()
        if not await self._store.delete_option_set(guild_id, user_id, cleaned):
            raise Refused(
                N_("You have no option set --{name}."), name=composition.clean_text(cleaned, 20)
            )
        return cleaned

    async def clear(self, guild_id: int, user_id: int) -> bool:
        return await self._store.clear_preferences(guild_id, user_id)

"""A server's styles: named prompt templates that moderators keep and members pick, and the
style each channel uses by default."""

from __future__ import annotations

from bot.core import composition
from bot.core.models import Style, style_key
from bot.core.ports import StyleStore
from bot.core.preferences import NOT_A_SIZE
from bot.core.refusals import Refused
from bot.core.texts import N_

MAX_STYLES = 100  # per server: more than anyone can pick from a list of 25
MAX_CHOICES = 25  # what Discord shows of an autocomplete
ALREADY_A_STYLE = N_("There is already a style “{name}”: use /style edit.")


class StyleBook:
    def __init__(self, store: StyleStore) -> None:
        self._store = store

    async def all(self, guild_id: int) -> list[Style]:
        return await self._store.list_styles(guild_id)

    async def named(self, guild_id: int, name: str) -> Style:
        style = await self._store.get_style(guild_id, name)
        if style is None:
            raise Refused(
                N_("This server has no style “{name}”."), name=composition.clean_text(name, 40)
            )
        return style

    async def matching(self, guild_id: int, typed: str) -> list[Style]:
        """The styles whose names hold what the member typed, those starting with it first."""
        wanted = style_key(typed.strip())
        found = [style for style in await self.all(guild_id) if wanted in style.key]
        found.sort(key=lambda style: (not style.key.startswith(wanted), style.key))
        return found[:MAX_CHOICES]

    async def check_new_name(self, guild_id: int, name: str) -> str:
        """The name, cleaned, if the server may add a style of that name."""
        cleaned = composition.style_name(name)
        styles = await self.all(guild_id)
        if any(style.key == style_key(cleaned) for style in styles):
            raise Refused(ALREADY_A_STYLE, name=cleaned)
        if len(styles) >= MAX_STYLES:
            raise Refused(
                N_("A server can keep {limit} styles: delete one first."), limit=MAX_STYLES
            )
        return cleaned

    async def add(self, guild_id: int, name: str, template: str, default_size: str | None) -> Style:
        cleaned = await self.check_new_name(guild_id, name)
        style = _style(guild_id, cleaned, template, default_size)
        if not await self._store.create_style(style):
            raise Refused(ALREADY_A_STYLE, name=cleaned)
        return style

    async def edit(
        self, guild_id: int, name: str, template: str, default_size: str | None
    ) -> Style:
        existing = await self.named(guild_id, name)
        style = _style(guild_id, existing.name, template, default_size)
        if not await self._store.update_style(style):
            raise Refused(N_("The style “{name}” was deleted meanwhile."), name=existing.name)
        return style

    async def delete(self, guild_id: int, name: str) -> Style:
        style = await self.named(guild_id, name)
        await self._store.delete_style(guild_id, style.name)
        return style

    async def set_channel_default(
        self, guild_id: int, channel_id: int, name: str | None
    ) -> Style | None:
        """Give a channel a default style (which must exist), or none."""
        style = await self.named(guild_id, name) if name else None
        await self._store.set_channel_style(guild_id, channel_id, style.name if style else None)
        return style

    async def channel_defaults(self, guild_id: int) -> dict[int, str]:
        return await self._store.channel_styles(guild_id)

    async def for_request(
        self, guild_id: int | None, channel_id: int, asked: str | None
    ) -> Style | None:
        """The style a request uses: the one asked for, else the channel's default; none in
        direct messages, or when the member asked for "none"."""
        if guild_id is None:
            if asked and style_key(asked) != composition.NO_STYLE:
                raise Refused(N_("Styles belong to servers: there are none in direct messages."))
            return None
        if asked:
            return (
                None
                if style_key(asked) == composition.NO_STYLE
                else await self.named(guild_id, asked)
            )
        return await self._store.channel_style(guild_id, channel_id)


def _style(guild_id: int, name: str, template: str, default_size: str | None) -> Style:
    size = composition.default_size(default_size)
    if default_size and size is None:
        raise Refused(NOT_A_SIZE)
    return Style(guild_id, name, composition.template(template), size)

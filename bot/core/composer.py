"""Gathers what composing one request needs (the style, the member's preferences, whether the
server allows suffixes) and composes it."""

from __future__ import annotations

from bot.core.composition import Asked, Composition, compose
from bot.core.models import Requester
from bot.core.policy import GuildPolicy
from bot.core.preferences import PreferenceBook
from bot.core.styles import StyleBook


class Composer:
    def __init__(self, styles: StyleBook, preferences: PreferenceBook, policy: GuildPolicy) -> None:
        self._styles = styles
        self._preferences = preferences
        self._policy = policy

    async def compose(self, requester: Requester, asked: Asked) -> Composition:
        """The final prompt and options for what `requester` asked. Raises Refused."""
        guild_id = requester.guild_id
        style = None
        if asked.fresh or asked.style:
            style = await self._styles.for_request(guild_id, requester.channel_id, asked.style)
        preferences = await self._preferences.of(guild_id, requester.user_id)
        allowed = (
            guild_id is None
            or (await self._policy.settings(guild_id)).personal_suffixes is not False
        )
        return compose(asked, style=style, preferences=preferences, suffix_allowed=allowed)

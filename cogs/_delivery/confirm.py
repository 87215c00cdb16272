"""The private cost preview with Confirm and Cancel. Nothing is reserved until Confirm, which
admits the request under the limits as they stand then."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from cogs._errors import report_error
from cogs._i18n import N_, _, use_locale
from cogs._render import PREVIEW_CANCELLED, PREVIEW_CONFIRMED, PREVIEW_EXPIRED

CONFIRM, CANCEL = N_("Confirm"), N_("Cancel")
PREVIEW_SECONDS = 300.0  # a private preview no one answered lapses; nothing was reserved

Confirmed = Callable[[discord.Interaction], Awaitable[None]]


class CostPreview(discord.ui.View):
    """Under the preview: Confirm runs `on_confirm` with the click's interaction (its
    answer becomes the public reply); Cancel ends it. The preview is private, so only the
    member who asked can press either. Not kept across restarts: a lapsed one spent nothing."""

    def __init__(self, asked: discord.Interaction, on_confirm: Confirmed) -> None:
        super().__init__(timeout=PREVIEW_SECONDS)
        self._asked = asked
        self._on_confirm = on_confirm
        self.confirm.label = _(CONFIRM)
        self.cancel.label = _(CANCEL)

    @discord.ui.button(label=CONFIRM, style=discord.ButtonStyle.primary)
    async def confirm(self, interaction: discord.Interaction, item: discord.ui.Button[Any]) -> None:
        use_locale(interaction.locale)  # a view's callbacks run in a task of their own
        self.stop()
        await self._settle_preview(_(PREVIEW_CONFIRMED))
        await self._on_confirm(interaction)

    @discord.ui.button(label=CANCEL, style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, item: discord.ui.Button[Any]) -> None:
        use_locale(interaction.locale)
        self.stop()
        await interaction.response.edit_message(content=_(PREVIEW_CANCELLED), view=None)

    async def on_timeout(self) -> None:
        use_locale(self._asked.locale)
        await self._settle_preview(_(PREVIEW_EXPIRED))

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)

    async def _settle_preview(self, content: str) -> None:
        """Leave the preview saying what became of it, without its buttons."""
        with contextlib.suppress(discord.HTTPException):
            await self._asked.edit_original_response(content=content, view=None)

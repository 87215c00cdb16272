"""The buttons under every result. Their custom ids carry the action and the job, so they keep
working after a restart and never time out; a click finds the results cog through the client."""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

import discord

from bot.discord_bot import ImagineBot

RESULTS_COG = "Results"


class ClickHandler(Protocol):
    async def on_click(
        self, interaction: discord.Interaction, action: str, job_id: int
    ) -> None: ...


# action: (label, emoji, style)
ACTIONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": ("Reroll", "🎲", discord.ButtonStyle.secondary),
    "vary": ("Vary", "🪄", discord.ButtonStyle.secondary),
    "details": ("Details", "📄", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"imagine:(?P<action>reroll|vary|details|delete):(?P<job_id>[0-9]+)",
):
    def __init__(self, action: str, job_id: int) -> None:
        label, emoji, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"imagine:{action}:{job_id}"
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> ResultButton:
        return cls(match["action"], int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        cog = client.get_cog(RESULTS_COG) if isinstance(client, ImagineBot) else None
        if cog is None:
            raise RuntimeError("result buttons clicked before the results cog loaded")
        await cast(ClickHandler, cog).on_click(interaction, self.action, self.job_id)


def result_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        view.add_item(ResultButton(action, job_id))
    return view

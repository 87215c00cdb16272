"""The buttons under every result. Their custom ids carry the action and the job, so they keep
working after a restart and never time out; a click finds the results cog through the client."""

from __future__ import annotations

import re
from typing import Any, NamedTuple, Protocol, cast

import discord

from bot.core.requests import Size
from bot.core.variations import upscale_size
from bot.discord_bot import ImagineBot
from cogs._i18n import N_, _, use_locale

RESULTS_COG = "Results"


class ClickHandler(Protocol):
    async def on_click(
        self, interaction: discord.Interaction, action: str, job_id: int
    ) -> None: ...


class Action(NamedTuple):
    label: str
    emoji: str
    style: discord.ButtonStyle
    row: int  # working on the image above, the job itself below


GREY = discord.ButtonStyle.secondary
ACTIONS: dict[str, Action] = {
    "vary-subtle": Action(N_("Vary (Subtle)"), "🪄", GREY, 0),
    "vary-strong": Action(N_("Vary (Strong)"), "🌀", GREY, 0),
    "upscale": Action(N_("Upscale"), "⬆️", GREY, 0),
    "remix": Action(N_("Remix"), "✏️", GREY, 0),
    "reroll": Action(N_("Reroll"), "🎲", GREY, 1),
    "details": Action(N_("Details"), "📄", GREY, 1),
    "favourite": Action(N_("Favourite"), "⭐", GREY, 1),
    "delete": Action(N_("Delete"), "🗑️", discord.ButtonStyle.danger, 1),
}
# Under a progress line: before anything reached the API, and after.
PROGRESS_ACTIONS: dict[str, Action] = {
    "cancel": Action(N_("Cancel"), "✖️", GREY, 0),
    "stop": Action(N_("Stop waiting"), "⏹️", GREY, 0),
}
# Under a set, what each image gets: U1 (Upscale) on the first row, V1 (Vary (Subtle)) below.
PER_IMAGE = {"upscale": "U", "vary-subtle": "V"}
PER_IMAGE_ROWS = {"upscale": 0, "vary-subtle": 1}
SET_ACTIONS = ("reroll", "details", "favourite", "delete")  # for the whole set, on the last row
# Results posted before Vary was split still carry its id: it runs as Vary (Subtle).
RENAMED = {"vary": "vary-subtle"}
_ACTION_PATTERN = "|".join(re.escape(action) for action in [*ACTIONS, *PROGRESS_ACTIONS, *RENAMED])


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"imagine:(?P<action>{_ACTION_PATTERN}):(?P<job_id>[0-9]+)",
):
    def __init__(
        self, action: str, job_id: int, *, number: int | None = None, row: int | None = None
    ) -> None:
        """`number` labels a button that acts on one image of a set (U1, V1, ...); `row`
        moves it from its usual row."""
        label, icon, style, usual_row = ACTIONS.get(action) or PROGRESS_ACTIONS[action]
        row = usual_row if row is None else row
        emoji: str | None = icon
        label = _(label)
        if number is not None:  # U1, V1: a letter and a number read the same in every language
            label, emoji, row = f"{PER_IMAGE[action]}{number}", None, PER_IMAGE_ROWS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=style,
                row=row,
                custom_id=f"imagine:{action}:{job_id}",
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
        action = match["action"]
        return cls(RENAMED.get(action, action), int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        use_locale(interaction.locale)
        client = interaction.client
        cog = client.get_cog(RESULTS_COG) if isinstance(client, ImagineBot) else None
        if cog is None:
            raise RuntimeError("result buttons clicked before the results cog loaded")
        await cast(ClickHandler, cog).on_click(interaction, self.action, self.job_id)


def result_view(job_id: int, size: Size | None = None) -> discord.ui.View:
    """Every button for a result; Upscale only where a larger size of the same shape exists
    (when the size is not given, it is offered and a pointless click is refused)."""
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        if action == "upscale" and size is not None and upscale_size(size) is None:
            continue
        view.add_item(ResultButton(action, job_id))
    return view


def set_view(first_job_id: int, images: list[tuple[int, int]], size: Size) -> discord.ui.View:
    """The buttons under a set: per image (`(number, job_id)`), Upscale where a larger size
    of the same shape exists and Vary; then Reroll, Details and Delete for the whole set."""
    view = discord.ui.View(timeout=None)
    for action in PER_IMAGE:
        if action == "upscale" and upscale_size(size) is None:
            continue
        for number, job_id in images:
            view.add_item(ResultButton(action, job_id, number=number))
    for action in SET_ACTIONS:
        view.add_item(ResultButton(action, first_job_id, row=2))
    return view


def progress_view(job_id: int, *, submitted: bool) -> discord.ui.View:
    """Cancel while the job (or set) waits; Stop waiting once the API has it."""
    view = discord.ui.View(timeout=None)
    view.add_item(ResultButton("stop" if submitted else "cancel", job_id))
    return view

"""What the buttons under a result do: Reroll, Vary, Details and Delete."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.core.models import Job
from bot.core.refusals import Refused
from bot.discord_bot import ImagineBot
from cogs._delivery.flow import launch
from cogs._errors import report_error
from cogs._render import job_details_embed
from cogs._result_buttons import RESULTS_COG, ResultButton

VARY_STRENGTH = 0.5  # keeps the composition, changes the details


class Results(commands.Cog, name=RESULTS_COG):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ResultButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ResultButton)

    async def on_click(self, interaction: discord.Interaction, action: str, job_id: int) -> None:
        try:
            job = await self.bot.services.ledger.get_job(job_id)
            if job is None:
                raise Refused("I no longer have the details of that image.")
            match action:
                case "reroll":
                    await self.reroll(interaction, job)
                case "vary":
                    await self.vary(interaction, job)
                case "details":
                    await interaction.response.send_message(
                        embed=job_details_embed(job), ephemeral=True
                    )
                case "delete":
                    await self.delete(interaction, job)
        except Exception as error:  # buttons have no command tree: report here
            await report_error(interaction, error)

    async def reroll(self, interaction: discord.Interaction, job: Job) -> None:
        """The same request with a new seed, as a new job of the clicker's."""
        await launch(self.bot, interaction, job.request.model_copy(update={"seed": -1}))

    async def vary(self, interaction: discord.Interaction, job: Job) -> None:
        """Image-to-image from this result, as a new job of the clicker's."""
        message = interaction.message
        image = message.attachments[0] if message and message.attachments else None
        if image is None:
            raise Refused("That result has no image left to vary.")
        variation = job.request.model_copy(
            update={"seed": -1, "image": image.url, "strength": VARY_STRENGTH}
        )
        await launch(self.bot, interaction, variation)

    async def delete(self, interaction: discord.Interaction, job: Job) -> None:
        """Only the person who asked for it, or someone with Manage Messages."""
        allowed = (
            interaction.user.id == job.requester.user_id or interaction.permissions.manage_messages
        )
        if not allowed:
            raise Refused("Only the person who made this image, or a moderator, can delete it.")
        await interaction.response.defer()  # acknowledges the click without a new message
        await interaction.delete_original_response()


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Results(bot))

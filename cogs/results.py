"""What the buttons under a result do: Vary (Subtle/Strong), Upscale, Remix, Reroll, Details,
Favourite and Delete. Every new image is the clicker's own job, under the clicker's limits."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.core.imaging import check_reference
from bot.core.models import Job
from bot.core.refusals import Refused
from bot.core.runner import CancelOutcome
from bot.core.variations import Variation, upscale, variation
from bot.discord_bot import ImagineBot
from cogs._delivery.flow import launch
from cogs._delivery.permissions import requester_for
from cogs._delivery.result_files import job_attachment
from cogs._errors import report_error
from cogs._i18n import N_, _
from cogs._render import (
    ALREADY_LARGEST,
    NO_IMAGE_LEFT,
    NOT_YOURS_TO_CANCEL,
    NOTHING_TO_CANCEL,
    job_details_embed,
    upscale_note,
)
from cogs._render_history import FAVOURITE_ADDED, FAVOURITE_REMOVED
from cogs._result_buttons import RESULTS_COG, ResultButton
from cogs.imagine import Imagine, RemixModal, as_reference

VARIATIONS: dict[str, Variation] = {"vary-subtle": "subtle", "vary-strong": "strong"}


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
                raise Refused(N_("I no longer have the details of that image."))
            match action:
                case "vary-subtle" | "vary-strong":
                    await self.vary(interaction, job, VARIATIONS[action])
                case "upscale":
                    await self.upscale(interaction, job)
                case "remix":
                    await self.remix(interaction, job)
                case "reroll":
                    await self.reroll(interaction, job)
                case "details":
                    jobs = await self._set_of(job)
                    embeds = [job_details_embed(member) for member in jobs]
                    await interaction.response.send_message(embeds=embeds, ephemeral=True)
                case "delete":
                    await self.delete(interaction, job)
                case "cancel" | "stop":
                    await self.cancel(interaction, job)
                case "favourite":
                    await self.favourite(interaction, job)
        except Exception as error:  # buttons have no command tree: report here
            await report_error(interaction, error)

    async def reroll(self, interaction: discord.Interaction, job: Job) -> None:
        """The same request with a new seed (as many images as the set had), as the clicker's."""
        count = len(await self._set_of(job))
        await launch(
            self.bot, interaction, job.request.model_copy(update={"seed": -1}), count=count
        )

    async def vary(self, interaction: discord.Interaction, job: Job, kind: Variation) -> None:
        """Image-to-image from this result with a new seed, as a new job of the clicker's."""
        await launch(
            self.bot, interaction, variation(job.request, self._image(interaction, job).url, kind)
        )

    async def upscale(self, interaction: discord.Interaction, job: Job) -> None:
        """This result redrawn at the largest size of its shape, labelled as what it is."""
        request = upscale(job.request, self._image(interaction, job).url)
        if request is None:
            raise Refused(ALREADY_LARGEST)
        await launch(self.bot, interaction, request, note=upscale_note(request.size))

    async def remix(self, interaction: discord.Interaction, job: Job) -> None:
        """A modal prefilled with the prompt and strength; this result is the reference."""
        requester_for(self.bot, interaction)  # refuse before the modal, not after it
        reference = as_reference(self._image(interaction, job))
        check_reference(reference)
        imagine = self.bot.get_cog("Imagine")
        if not isinstance(imagine, Imagine):
            raise RuntimeError("Remix clicked while the imagine cog is not loaded")
        original = job.request
        modal = RemixModal(
            imagine,
            reference,
            prompt=original.prompt,
            strength=original.strength,
            size=original.size,
            output_format=original.output_format,
        )
        await interaction.response.send_modal(modal)

    async def cancel(self, interaction: discord.Interaction, job: Job) -> None:
        """Cancel what still waits (released: nothing spent); stop waiting for what the API
        already has (still paid for, delivered all the same). The requester or a moderator."""
        if not self._may_manage(interaction, job):
            raise Refused(NOT_YOURS_TO_CANCEL)
        runner = self.bot.services.runner
        outcomes = [await runner.cancel(member.id) for member in await self._set_of(job)]
        if all(outcome is CancelOutcome.NOT_HERE for outcome in outcomes):
            raise Refused(NOTHING_TO_CANCEL)
        await interaction.response.defer()  # the progress line itself tells what happened

    async def delete(self, interaction: discord.Interaction, job: Job) -> None:
        """Only the person who asked for it, or someone with Manage Messages."""
        if not self._may_manage(interaction, job):
            raise Refused(N_("Only the person who made this image, or a moderator, can delete it."))
        await interaction.response.defer()  # acknowledges the click without a new message
        await interaction.delete_original_response()

    @staticmethod
    def _may_manage(interaction: discord.Interaction, job: Job) -> bool:
        """The person who asked for the job, or someone with Manage Messages."""
        return (
            interaction.user.id == job.requester.user_id or interaction.permissions.manage_messages
        )

    async def _set_of(self, job: Job) -> list[Job]:
        """The job's set, or the job alone."""
        if job.batch_id is None:
            return [job]
        return await self.bot.services.ledger.jobs_in_batch(job.batch_id)

    async def favourite(self, interaction: discord.Interaction, job: Job) -> None:
        """Add the job to the clicker's favourites, or take it out again; say which, privately."""
        added = await self.bot.services.history.toggle_favourite(interaction.user.id, job.id)
        text = _(FAVOURITE_ADDED if added else FAVOURITE_REMOVED)
        await interaction.response.send_message(text, ephemeral=True)

    @staticmethod
    def _image(interaction: discord.Interaction, job: Job) -> discord.Attachment:
        """The job's image on the message the button is on."""
        message = interaction.message
        attachment = job_attachment(message, job.id) if message else None
        if attachment is None:
            raise Refused(NO_IMAGE_LEFT)
        return attachment


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Results(bot))

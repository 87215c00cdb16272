"""/imagine, the "Imagine from image" context menu, and mention-replies to an image."""

from __future__ import annotations

import asyncio
import logging
import re

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot.core.composition import Asked, Composition
from bot.core.imaging import Reference, check_reference
from bot.core.models import ReplyPlace, Requester
from bot.core.refusals import Refused
from bot.core.requests import MAX_IMAGES_PER_REQUEST, MAX_PROMPT_LENGTH, MAX_SEED, GenerationRequest
from bot.discord_bot import ImagineBot
from cogs._delivery.flow import launch, releasing_if_unanswered, run_and_deliver
from cogs._delivery.permissions import (
    TO_REPLY_WITH_IMAGES,
    may_answer,
    requester_for,
    role_ids,
    spoiler_policy_for,
)
from cogs._delivery.replies import MessageReply
from cogs._errors import report_error
from cogs._i18n import N_, NC_, _, use_locale
from cogs._prompt_choices import prompt_choices
from cogs._render import (
    FORMAT_CHOICES,
    SIZE_CHOICES,
    failure_line,
    refusal_text,
)
from cogs._render_styles import composition_note

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def first_image(message: discord.Message) -> discord.Attachment | None:
    for attachment in message.attachments:
        content_type = attachment.content_type or ""
        if content_type.startswith("image/") or attachment.filename.lower().endswith(
            IMAGE_EXTENSIONS
        ):
            return attachment
    return None


def as_reference(attachment: discord.Attachment) -> Reference:
    return Reference(
        url=attachment.url,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        width=attachment.width,
        height=attachment.height,
    )


def parse_strength(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise Refused(N_("Strength must be a number from 0 to 1, for example 0.6.")) from None


REMIX_TITLE = N_("Imagine from image")
PROMPT_LABEL = N_("Prompt")
PROMPT_PLACEHOLDER = N_("What should the image become?")
# TRANSLATORS: a form field's label: at most 45 characters.
STRENGTH_LABEL = N_("Strength: 0 keeps the image, 1 replaces it")


class RemixModal(discord.ui.Modal):
    def __init__(
        self,
        cog: Imagine,
        reference: Reference,
        *,
        prompt: str | None = None,
        strength: float | None = None,
        size: str | None = None,
        output_format: str | None = None,
    ) -> None:
        """`prompt` and `strength` prefill the inputs; `size` and `output_format` are kept for
        the new image (the server's defaults when left out). Built per member, in the member's
        language."""
        super().__init__(title=_(REMIX_TITLE))
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=_(PROMPT_LABEL),
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            placeholder=_(PROMPT_PLACEHOLDER),
            default=prompt,
            max_length=MAX_PROMPT_LENGTH,
        )
        self.strength: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=_(STRENGTH_LABEL),
            custom_id="strength",
            default="0.6" if strength is None else f"{strength:.1f}",
            required=False,
            max_length=4,
        )
        self.add_item(self.prompt)
        self.add_item(self.strength)
        self._cog = cog
        self._reference = reference
        self._size = size
        self._output_format = output_format
        self._fresh = prompt is None

    async def on_submit(self, interaction: discord.Interaction) -> None:
        use_locale(interaction.locale)
        await self._cog.start(
            interaction,
            prompt=self.prompt.value,
            kept_size=self._size,  # a flag typed here beats the kept value
            kept_format=self._output_format,
            strength=parse_strength(self.strength.value),
            reference=self._reference,
            # Prefilled from a result, the prompt already has its style and suffix.
            fresh=self._fresh,
        )

    # discord.py's stubs give Modal.on_error the View signature; Modal's own takes no item.
    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:  # type: ignore[override]
        await report_error(interaction, error)


class Imagine(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.remix_menu = app_commands.ContextMenu(
            name=NC_("context menu", "Imagine from image"), callback=self.imagine_from_image
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.remix_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.remix_menu.name, type=self.remix_menu.type)

    @app_commands.command(
        name=NC_("command", "imagine"),
        description=N_("Make an image from a prompt, or remix a picture you attach."),
    )
    @app_commands.rename(
        prompt=NC_("option", "prompt"),
        size=NC_("option", "size"),
        output_format=NC_("option", "format"),
        seed=NC_("option", "seed"),
        strength=NC_("option", "strength"),
        image=NC_("option", "image"),
        count=NC_("option", "count"),
        style=NC_("option", "style"),
    )
    @app_commands.describe(
        prompt=N_("What to draw, in your own words"),
        size=N_("Width × height of the image (the server's default if you leave it out)"),
        output_format=N_("File type of the image"),
        seed=N_("The same seed and prompt give the same image; -1 picks one at random"),
        strength=N_("With an image: 0 keeps it, 1 replaces it (0.6 if you leave it out)"),
        image=N_("A picture to start from (JPEG, PNG, GIF or WebP)"),
        count=N_("How many images at once, each with the next seed (your /prefer count, else 1)"),
        style=N_("One of this server's styles (the channel's default if you leave it out)"),
    )
    @app_commands.choices(size=SIZE_CHOICES, output_format=FORMAT_CHOICES)
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: Range[str, 1, MAX_PROMPT_LENGTH],
        size: str | None = None,
        output_format: str | None = None,
        seed: Range[int, -1, MAX_SEED] = -1,
        strength: Range[float, 0.0, 1.0] | None = None,
        image: discord.Attachment | None = None,
        count: Range[int, 1, MAX_IMAGES_PER_REQUEST] | None = None,
        style: Range[str, 1, 40] | None = None,
    ) -> None:
        await self.start(
            interaction,
            prompt=prompt,
            size=size,
            output_format=output_format,
            seed=seed,
            strength=strength,
            reference=as_reference(image) if image else None,
            count=count,
            style=style,
        )

    @imagine.autocomplete("style")
    async def _styles(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        styles = await self.bot.services.styles.matching(interaction.guild_id, current)
        return [app_commands.Choice(name=style.name, value=style.name) for style in styles]

    @imagine.autocomplete("prompt")
    async def offer_prompts(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await prompt_choices(self.bot, interaction, current)

    async def imagine_from_image(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        requester_for(self.bot, interaction)  # refuse before the modal, not after it
        attachment = first_image(message)
        if attachment is None:
            raise Refused(N_("That message has no image to start from: pick one with a picture."))
        reference = as_reference(attachment)
        check_reference(reference)
        await interaction.response.send_modal(RemixModal(self, reference))

    async def start(
        self,
        interaction: discord.Interaction,
        *,
        prompt: str,
        size: str | None = None,
        output_format: str | None = None,
        seed: int = -1,
        strength: float | None = None,
        reference: Reference | None = None,
        count: int | None = None,
        style: str | None = None,
        kept_size: str | None = None,
        kept_format: str | None = None,
        fresh: bool = True,
    ) -> None:
        """Turn the user's choices, the prompt's flags, the style and the member's preferences
        into a request (with the server's defaults) and launch it. An option given explicitly
        wins over a flag."""
        asked = Asked(
            prompt,
            style=style,
            size=size,
            output_format=output_format,
            seed=seed,
            kept_size=kept_size,
            kept_format=kept_format,
            fresh=fresh,
        )
        request, composition = await self.composed(
            requester_for(self.bot, interaction), asked, strength=strength, reference=reference
        )
        count = count or composition.count or 1
        await launch(
            self.bot, interaction, request, count=count, note=composition_note(composition)
        )

    async def composed(
        self,
        requester: Requester,
        asked: Asked,
        *,
        strength: float | None = None,
        reference: Reference | None = None,
    ) -> tuple[GenerationRequest, Composition]:
        """The request for what was asked, styled and personalised, and how it was composed
        (for the note to the member and their preferred count)."""
        composition = await self.bot.services.composer.compose(requester, asked)
        request = await self.bot.services.admission.prepare(
            requester,
            prompt=composition.prompt,
            size=composition.size,
            output_format=composition.output_format,
            seed=composition.seed,
            strength=strength,
            reference=reference,
            style_name=composition.style_name,
        )
        return request, composition

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """@mention the bot with a prompt on a message holding an image, or in reply to one."""
        me = self.bot.user
        if message.author.bot or me is None:
            return
        if not any(user.id == me.id for user in message.mentions):
            return
        # A message carries no locale of its author's: answer in the server's language.
        use_locale(message.guild.preferred_locale if message.guild else None)
        guild = message.guild
        permissions = (
            message.channel.permissions_for(guild.me) if guild else discord.Permissions.none()
        )
        try:
            may_answer(self.bot, guild.id if guild else None, permissions, TO_REPLY_WITH_IMAGES)
        except Refused:
            # Answering would need the very permission that is missing: stay silent.
            log.info("cannot answer a mention in channel %s", message.channel.id)
            return
        try:
            anchor, attachment = await self._image_for(message)
            prompt = re.sub(rf"<@!?{me.id}>", "", message.content).strip()
            if not prompt:
                raise Refused(
                    N_("Add a prompt after the mention, for example: make it a watercolour.")
                )
            guild_id = message.guild.id if message.guild else None
            await spoiler_policy_for(self.bot, guild_id, message.channel)  # may refuse
            requester = Requester(message.author.id, guild_id, message.channel.id)
            request, composition = await self.composed(
                requester, Asked(prompt), reference=as_reference(attachment)
            )
            note = composition_note(composition)
            job = await self.bot.services.admission.admit(
                requester, request, role_ids=role_ids(message.author)
            )
        except Refused as refusal:
            await message.reply(failure_line(refusal_text(refusal)), mention_author=False)
            return
        with self.bot.tracking(asyncio.current_task()):
            async with releasing_if_unanswered(self.bot, [job]):
                reply = await MessageReply.post(anchor)
            await self.bot.services.delivery.reply_posted(job, ReplyPlace.message(reply.message_id))
            await run_and_deliver(self.bot, [job], reply, message.author, note)

    async def _image_for(
        self, message: discord.Message
    ) -> tuple[discord.Message, discord.Attachment]:
        """The image to remix and the message it is on: the mention's own, else the one it
        replies to."""
        attachment = first_image(message)
        if attachment is not None:
            return message, attachment
        if message.reference is None or message.reference.message_id is None:
            raise Refused(N_("Reply to a message with an image (or attach one), or use /imagine."))
        replied = message.reference.resolved
        if not isinstance(replied, discord.Message):
            try:
                replied = await message.channel.fetch_message(message.reference.message_id)
            except discord.HTTPException:
                raise Refused(N_("I can't find the message you replied to any more.")) from None
        attachment = first_image(replied)
        if attachment is None:
            # Without the message-content intent Discord hides other people's attachments.
            raise Refused(
                N_(
                    "I can't see an image in that message. Right-click it and choose "
                    "Apps → Imagine from image instead."
                )
            )
        return replied, attachment


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Imagine(bot))

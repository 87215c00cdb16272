"""/style: the server's named prompt templates, and the style each channel uses by default.
Moderators (Manage Server) keep them; members pick one with /imagine style:."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot.core.composition import MAX_STYLE_NAME, MAX_TEMPLATE
from bot.core.models import Style
from bot.discord_bot import ImagineBot
from cogs._errors import report_error
from cogs._i18n import N_, NC_, _
from cogs._render import SIZE_CHOICES, trimmed
from cogs._render_styles import (
    NO_DEFAULT_SIZE,
    STYLE_SIZE_CHOICES,
    TEMPLATE_PLACEHOLDER,
    channel_style_line,
    style_deleted_line,
    style_saved_line,
    styles_embed,
)
from cogs.limits import MANAGE_SERVER


def require_manage_server(interaction: discord.Interaction) -> None:
    # Server admins can override a command's default permissions, so check here too.
    if not interaction.permissions.manage_guild:
        raise app_commands.MissingPermissions(["manage_guild"])


class StyleModal(discord.ui.Modal):
    def __init__(
        self, cog: StylesCog, name: str, default_size: str | None, existing: Style | None
    ) -> None:
        """A new style `name`, or (with `existing`) that style prefilled for editing."""
        title = _("Edit style {name}", name=name) if existing else _("New style {name}", name=name)
        super().__init__(title=trimmed(title, 45))
        self.template: discord.ui.TextInput[StyleModal] = discord.ui.TextInput(
            label=_("Template: {prompt} is where the prompt goes"),
            custom_id="template",
            style=discord.TextStyle.paragraph,
            placeholder=_(TEMPLATE_PLACEHOLDER),
            max_length=MAX_TEMPLATE,
        )
        self.add_item(self.template)
        self._cog = cog
        self._name = name
        self._default_size = default_size
        self._editing = existing is not None
        if existing is not None:
            self.template.default = existing.template

    async def on_submit(self, interaction: discord.Interaction) -> None:
        require_manage_server(interaction)
        await self._cog.save(
            interaction, self._name, self.template.value, self._default_size, self._editing
        )

    # discord.py's stubs give Modal.on_error the View signature; Modal's own takes no item.
    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:  # type: ignore[override]
        await report_error(interaction, error)


class StylesCog(commands.Cog, name="Styles"):
    style = app_commands.Group(
        name=NC_("command", "style"),
        description=N_("The server's styles for /imagine (Manage Server)"),
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        require_manage_server(interaction)
        return True

    def _guild_id(self, interaction: discord.Interaction) -> int:
        assert interaction.guild_id is not None, "the group is guild-only"
        return interaction.guild_id

    @style.command(
        name=NC_("command", "add"),
        description=N_("Add a style: a form asks for its template, with {prompt} for the words."),
    )
    @app_commands.rename(name=NC_("option", "name"), size=NC_("option", "size"))
    @app_commands.describe(
        name=N_("A short name members pick it by"),
        size=N_("The size it makes unless one is picked"),
    )
    @app_commands.choices(size=SIZE_CHOICES)
    async def add(
        self,
        interaction: discord.Interaction,
        name: Range[str, 1, MAX_STYLE_NAME],
        size: str | None = None,
    ) -> None:
        styles = self.bot.services.styles
        cleaned = await styles.check_new_name(self._guild_id(interaction), name)
        await interaction.response.send_modal(StyleModal(self, cleaned, size, None))

    @style.command(
        name=NC_("command", "edit"),
        description=N_("Change a style's template (in a prefilled form) or its default size."),
    )
    @app_commands.rename(name=NC_("option", "name"), size=NC_("option", "size"))
    @app_commands.describe(
        name=N_("The style to change"), size=N_("Its default size (kept if left out)")
    )
    @app_commands.choices(size=STYLE_SIZE_CHOICES)
    async def edit(
        self,
        interaction: discord.Interaction,
        name: Range[str, 1, MAX_STYLE_NAME],
        size: str | None = None,
    ) -> None:
        existing = await self.bot.services.styles.named(self._guild_id(interaction), name)
        default_size = existing.default_size if size is None else size
        default_size = None if default_size == NO_DEFAULT_SIZE else default_size
        modal = StyleModal(self, existing.name, default_size, existing)
        await interaction.response.send_modal(modal)

    async def save(
        self,
        interaction: discord.Interaction,
        name: str,
        template: str,
        default_size: str | None,
        editing: bool,
    ) -> None:
        """What the style form does once submitted."""
        styles = self.bot.services.styles
        guild_id = self._guild_id(interaction)
        if editing:
            style = await styles.edit(guild_id, name, template, default_size)
        else:
            style = await styles.add(guild_id, name, template, default_size)
        line = style_saved_line(style, editing=editing)
        await interaction.response.send_message(line, ephemeral=True)

    @style.command(
        name=NC_("command", "delete"),
        description=N_("Delete a style; channels that used it by default use none."),
    )
    @app_commands.rename(name=NC_("option", "name"))
    @app_commands.describe(name=N_("The style to delete"))
    async def delete(
        self, interaction: discord.Interaction, name: Range[str, 1, MAX_STYLE_NAME]
    ) -> None:
        style = await self.bot.services.styles.delete(self._guild_id(interaction), name)
        await interaction.response.send_message(style_deleted_line(style), ephemeral=True)

    @style.command(
        name=NC_("command", "list"),
        description=N_("Every style, its template, default size and the channels that use it."),
    )
    async def list_styles(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild_id(interaction)
        styles = self.bot.services.styles
        embed = styles_embed(await styles.all(guild_id), await styles.channel_defaults(guild_id))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @style.command(
        name=NC_("command", "channel"),
        description=N_("The style /imagine uses in a channel when a member picks none."),
    )
    @app_commands.rename(channel=NC_("option", "channel"), style=NC_("option", "style"))
    @app_commands.describe(
        channel=N_("The channel"), style=N_("Its default style; leave empty for none")
    )
    async def channel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        style: Range[str, 1, MAX_STYLE_NAME] | None = None,
    ) -> None:
        chosen = await self.bot.services.styles.set_channel_default(
            self._guild_id(interaction), channel.id, style
        )
        await interaction.response.send_message(channel_style_line(channel, chosen), ephemeral=True)

    @edit.autocomplete("name")
    @delete.autocomplete("name")
    @channel.autocomplete("style")
    async def _style_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        styles = await self.bot.services.styles.matching(self._guild_id(interaction), current)
        return [app_commands.Choice(name=style.name, value=style.name) for style in styles]


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(StylesCog(bot))

"""/usage: images and cost for a member or, for moderators, the whole server."""

from __future__ import annotations

import io

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.refusals import Refused
from bot.core.usage import member_report, server_report
from bot.discord_bot import ImagineBot
from cogs._delivery.permissions import role_ids
from cogs._i18n import N_, NC_
from cogs._render import chart_words, member_usage_embed, server_usage_embed

CHART_FILENAME = "usage.png"


class Usage(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=NC_("command", "usage"),
        description=N_("Your images and cost, and what your limits leave you."),
    )
    @app_commands.guild_only()
    @app_commands.rename(member=NC_("option", "member"), server=NC_("option", "server"))
    @app_commands.describe(
        member=N_("Someone else's usage (needs Manage Server)"),
        server=N_("The whole server: totals, top members and a 30-day chart (needs Manage Server)"),
    )
    async def usage(
        self,
        interaction: discord.Interaction,
        member: discord.Member | None = None,
        server: bool = False,
    ) -> None:
        assert interaction.guild_id is not None, "guild-only command"
        if (server or member not in (None, interaction.user)) and not (
            interaction.permissions.manage_guild
        ):
            raise Refused(N_("You need the Manage Server permission to see others' usage."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        if server:
            await self._server_usage(interaction, interaction.guild_id)
        else:
            await self._member_usage(interaction, interaction.guild_id, member or interaction.user)

    async def _server_usage(self, interaction: discord.Interaction, guild_id: int) -> None:
        limits = await self.bot.services.policy.limits_for(guild_id)
        now = discord.utils.utcnow()
        report = await server_report(
            self.bot.services.usage, limits, guild_id, now=now, words=chart_words()
        )
        chart = discord.File(io.BytesIO(report.chart_png), filename=CHART_FILENAME)
        embed = server_usage_embed(report, chart=CHART_FILENAME)
        await interaction.followup.send(embed=embed, file=chart, ephemeral=True)

    async def _member_usage(
        self, interaction: discord.Interaction, guild_id: int, member: discord.abc.User
    ) -> None:
        limits = await self.bot.services.policy.limits_for(guild_id)
        exempt = limits.exempt_role_id is not None and limits.exempt_role_id in role_ids(member)
        report = await member_report(
            self.bot.services.usage,
            limits,
            guild_id,
            member.id,
            now=discord.utils.utcnow(),
            exempt=exempt,
        )
        await interaction.followup.send(embed=member_usage_embed(report, member), ephemeral=True)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Usage(bot))

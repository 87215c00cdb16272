"""The discord.py Bot: holds the core's services for the cogs to use."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.db import Database
from bot.jobs import JobRunner
from bot.settings import Settings


class ImagineBot(commands.Bot):
    def __init__(self, *, settings: Settings, database: Database, runner: JobRunner) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True, guild_messages=True),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.database = database
        self.runner = runner

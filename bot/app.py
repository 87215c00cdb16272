"""Open the long-lived resources, hand them to the bot, close them in reverse order."""

from __future__ import annotations

import logging

import aiohttp

from bot.db import Database
from bot.discord_bot import ImagineBot
from bot.jobs import JobRunner
from bot.settings import Settings
from bot.vibedream import VibeDreamClient

log = logging.getLogger(__name__)


async def run(settings: Settings) -> None:
    database = await Database.open(settings.database_path)
    try:
        async with aiohttp.ClientSession() as session:
            api = VibeDreamClient(
                session,
                base_url=settings.vibedream_base_url,
                api_key=settings.vibedream_api_key.get_secret_value(),
            )
            runner = JobRunner(
                database,
                api,
                expected_cost_cents=settings.expected_cost_cents,
                max_seconds=settings.generation_timeout_seconds,
            )
            bot = ImagineBot(settings=settings, database=database, runner=runner)
            async with bot:
                await bot.start(settings.discord_token.get_secret_value())
    finally:
        await database.close()

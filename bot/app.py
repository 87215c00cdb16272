"""Open the long-lived resources, hand them to the bot, close them in reverse order."""

from __future__ import annotations

import asyncio
import resource
import signal
from collections.abc import Callable

import aiohttp
import discord.http
import uvloop

from bot.core.admission import Admission
from bot.core.delivery import DeliveryBook
from bot.core.leases import LeaseKeeper
from bot.core.policy import BotDefaults, GuildPolicy
from bot.core.ports import Storage
from bot.core.pricing import Pricing
from bot.core.runner import JobRunner
from bot.core.services import Services
from bot.discord_bot import ImagineBot
from bot.settings import Settings
from bot.storage import open_storage
from bot.vibedream import DEFAULT_RETRY, DEFAULT_TIMEOUTS, RetryPolicy, Timeouts, VibeDreamClient
from cogs._errors import ErrorReportingTree


def stop_gracefully_on_signals(bot: ImagineBot, grace_seconds: float) -> None:
    """On SIGTERM or SIGINT, shut the bot down gracefully, once."""
    loop = asyncio.get_running_loop()
    shutdowns: set[asyncio.Task[None]] = set()  # keeps the task referenced until it ends

    def shut_down() -> None:
        if not shutdowns:
            shutdowns.add(loop.create_task(bot.shutdown(grace_seconds)))

    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, shut_down)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop: the same asyncio with its sockets and timers in C, which cuts the
    CPU a job costs in a burst by a fifth (see the README's Performance)."""
    return uvloop.new_event_loop


def api_session() -> aiohttp.ClientSession:
    """The one HTTP session for the API and its assets host. Its pool is not capped: each
    prediction in flight polls on a connection of its own, and with a capped pool a submit
    could wait for a connection until its timeout, then count as possibly billed though it
    was never sent."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


def allow_many_connections() -> None:
    """A thousand predictions in flight need a thousand sockets: lift the soft limit on open
    files (1,024 on many systems) to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def build_services(
    settings: Settings,
    storage: Storage,
    api: VibeDreamClient,
) -> Services:
    """The core, wired from settings over one storage adapter and the API client."""
    policy = GuildPolicy(
        storage,
        BotDefaults(settings.default_size, settings.default_format, settings.default_limits),
    )
    pricing = Pricing(settings.expected_cost_cents)
    leases = LeaseKeeper(storage)
    return Services(
        policy=policy,
        leases=leases,
        admission=Admission(storage, policy, pricing, leases),
        runner=JobRunner(
            storage,
            api,
            pricing,
            leases,
            max_seconds=settings.generation_timeout_seconds,
            concurrency=settings.generation_concurrency,
        ),
        delivery=DeliveryBook(storage, policy, leases),
        ledger=storage,
        usage=storage,
    )


def build_bot(
    settings: Settings,
    session: aiohttp.ClientSession,
    storage: Storage,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    force_sync: bool = False,
) -> ImagineBot:
    """The bot and the core it drives, wired from settings."""
    api = VibeDreamClient(
        session,
        base_url=settings.vibedream_base_url,
        api_key=settings.vibedream_api_key.get_secret_value(),
        assets_hosts=settings.vibedream_assets_hosts,
        retry=retry,
        timeouts=timeouts,
    )
    services = build_services(settings, storage, api)
    return ImagineBot(
        settings=settings,
        state=storage,
        alone=storage.one_process_only,
        services=services,
        tree_cls=ErrorReportingTree,
        force_sync=force_sync,
    )


async def run(settings: Settings, *, sync_only: bool = False) -> None:
    """Run the bot until it is stopped; with `sync_only`, register the commands and return."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base  # a rate-limiting proxy's address
    allow_many_connections()
    storage = await open_storage(settings.database_url, exclusive=True)
    try:
        async with api_session() as session:
            bot = build_bot(settings, session, storage, force_sync=sync_only)
            await storage.listen_guild_changes(bot.services.policy.invalidate)
            token = settings.discord_token.get_secret_value()
            async with bot:
                if sync_only:
                    await bot.login(token)  # runs setup_hook, which syncs
                    return
                stop_gracefully_on_signals(bot, settings.shutdown_grace_seconds)
                await bot.start(token)
    finally:
        await storage.close()

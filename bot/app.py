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
from bot.core.composer import Composer
from bot.core.delivery import DeliveryBook
from bot.core.history import History
from bot.core.leases import LeaseKeeper
from bot.core.policy import BotDefaults, GuildPolicy
from bot.core.ports import Storage
from bot.core.preferences import PreferenceBook
from bot.core.pricing import Pricing
from bot.core.quotes import Quoter
from bot.core.runner import JobRunner
from bot.core.services import Services
from bot.core.styles import StyleBook
from bot.core.telemetry import Telemetry
from bot.discord_bot import ImagineBot
from bot.metrics import Metrics, Monitoring
from bot.settings import Settings
from bot.startup import READY_SECONDS, StartupFailure, connect, log_in, opening_database
from bot.storage import open_storage
from bot.vibedream import DEFAULT_RETRY, DEFAULT_TIMEOUTS, RetryPolicy, Timeouts, VibeDreamClient
from cogs._command_translator import CatalogueTranslator
from cogs._errors import ErrorReportingTree

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_gracefully_on_signals(bot: ImagineBot, grace_seconds: float) -> asyncio.Event:
    """On SIGTERM or SIGINT, shut the bot down gracefully, once. The event returned is set
    when that shutdown has ended."""
    loop = asyncio.get_running_loop()
    shutdowns: set[asyncio.Task[None]] = set()  # keeps the task referenced until it ends
    stopped = asyncio.Event()

    def shut_down() -> None:
        if not shutdowns:
            shutdown = loop.create_task(bot.shutdown(grace_seconds))
            shutdown.add_done_callback(lambda _: stopped.set())
            shutdowns.add(shutdown)

    for signal_number in STOP_SIGNALS:
        loop.add_signal_handler(signal_number, shut_down)
    return stopped


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
    telemetry: Telemetry | None = None,
) -> Services:
    """The core, wired from settings over one storage adapter and the API client."""
    policy = GuildPolicy(
        storage,
        BotDefaults(settings.default_size, settings.default_format, settings.default_limits),
    )
    pricing = Pricing(settings.expected_cost_cents)
    leases = LeaseKeeper(storage)
    styles, preferences = StyleBook(storage), PreferenceBook(storage)
    return Services(
        policy=policy,
        leases=leases,
        admission=Admission(storage, policy, pricing, leases),
        quotes=Quoter(policy, pricing, storage),
        runner=JobRunner(
            storage,
            api,
            pricing,
            leases,
            max_seconds=settings.generation_timeout_seconds,
            concurrency=settings.generation_concurrency,
            telemetry=telemetry,
        ),
        delivery=DeliveryBook(storage, policy, leases),
        ledger=storage,
        usage=storage,
        history=History(storage, storage),
        styles=styles,
        preferences=preferences,
        composer=Composer(styles, preferences, policy),
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
    """The bot and the core it drives, wired from settings; with METRICS_ADDRESS, monitored."""
    endpoint = settings.metrics_endpoint
    metrics = Metrics() if endpoint is not None else None
    api = VibeDreamClient(
        session,
        base_url=settings.vibedream_base_url,
        api_key=settings.vibedream_api_key.get_secret_value(),
        assets_hosts=settings.vibedream_assets_hosts,
        retry=retry,
        timeouts=timeouts,
        on_poll=metrics.polled if metrics is not None else None,
    )
    services = build_services(settings, storage, api, telemetry=metrics)
    bot = ImagineBot(
        settings=settings,
        state=storage,
        alone=storage.one_process_only,
        services=services,
        tree_cls=ErrorReportingTree,
        translator=CatalogueTranslator(),
        force_sync=force_sync,
    )
    if metrics is not None and endpoint is not None:
        metrics.watch_slots(services.runner.slots)
        metrics.watch_gateway(bot)
        bot.http.http_trace = metrics.discord_trace()  # read when discord.py opens its session
        bot.extra_cogs.append(Monitoring(bot, storage, metrics, *endpoint))
    return bot


async def run(
    settings: Settings, *, sync_only: bool = False, ready_seconds: float = READY_SECONDS
) -> None:
    """Run the bot until it is stopped; with `sync_only`, register the commands and return.
    A start that cannot succeed raises StartupFailure (see bot.startup), once every resource
    it opened is closed again; `ready_seconds` bounds the wait for the gateway's first READY."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base  # a rate-limiting proxy's address
    allow_many_connections()
    async with opening_database(settings.database_url):
        storage = await open_storage(settings.database_url, exclusive=True)
    try:
        async with api_session() as session:
            bot = build_bot(settings, session, storage, force_sync=sync_only)
            async with opening_database(settings.database_url):
                await storage.listen_guild_changes(bot.services.policy.invalidate)
            token = settings.discord_token.get_secret_value()
            async with bot:
                try:
                    await log_in(bot, token)  # runs setup_hook, which syncs if need be
                    if sync_only:
                        return
                    stopped = stop_gracefully_on_signals(bot, settings.shutdown_grace_seconds)
                    await connect(bot, stopped, ready_seconds=ready_seconds)
                except StartupFailure:
                    if bot.application is not None:  # setup_hook ran: stop what it started
                        await bot.shutdown(settings.shutdown_grace_seconds)
                    raise
                finally:
                    loop = asyncio.get_running_loop()
                    for signal_number in STOP_SIGNALS:
                        loop.remove_signal_handler(signal_number)
    finally:
        await storage.close()

"""Prometheus metrics and a health check, served on METRICS_ADDRESS when it is set.

`Metrics` holds every metric in a registry of its own (so that several bots can share a
process, as the tests do) and is the core's Telemetry. `Monitoring` is the cog that serves
`/metrics` and `/healthz` for as long as the bot runs: the bot adds it in setup_hook, and its
close removes it, which stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import aiohttp
from aiohttp import web
from discord.ext import commands
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.core.ports import BotState
from bot.core.throttle import AdaptiveLimit
from bot.startup import Exit, StartupFailure

log = logging.getLogger(__name__)

OUTCOMES = ("completed", "failed", "released")
PROVIDER_CALLS = ("submit", "poll", "download")
DM_LABEL = "dm"  # the server label of direct messages' spending
LAG_INTERVAL_SECONDS = 0.5  # how often the event loop's lag is sampled
DATABASE_CHECK_SECONDS = 2.0  # /healthz reports the database down past this


class Metrics:
    """Every metric the bot exports; the core reports into it as its Telemetry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.jobs = Counter(
            "imagine_jobs",
            "Jobs settled, by outcome: completed, failed or released (nothing spent).",
            ["outcome"],
            registry=registry,
        )
        self.spend = Counter(
            "imagine_spend_cents",
            "Cents spent on settled jobs as the ledger counts them, by server id "
            f"({DM_LABEL} for direct messages).",
            ["guild"],
            registry=registry,
        )
        self.provider_seconds = Histogram(
            "imagine_provider_call_seconds",
            "How long each call to the VibeDream API took, by call: submit, poll, download.",
            ["call"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.provider_errors = Counter(
            "imagine_provider_errors",
            "Calls to the VibeDream API that failed, by call and error.",
            ["call", "error"],
            registry=registry,
        )
        self.discord_rate_limited = Counter(
            "imagine_discord_rate_limited",
            "REST answers from Discord with status 429, by X-RateLimit-Scope "
            "(user, global, shared; none when absent).",
            ["scope"],
            registry=registry,
        )
        self.event_loop_lag = Histogram(
            "imagine_event_loop_lag_seconds",
            "How late the event loop wakes a timer: the time it spends unable to serve.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        self.in_flight = Gauge(
            "imagine_jobs_in_flight", "Predictions in flight.", registry=registry
        )
        self.waiting = Gauge(
            "imagine_jobs_waiting", "Jobs waiting for a slot to start.", registry=registry
        )
        self.limit = Gauge(
            "imagine_jobs_limit",
            "Predictions allowed in flight now (GENERATION_CONCURRENCY, less while the "
            "provider pushes back).",
            registry=registry,
        )
        self.gateway_connected = Gauge(
            "imagine_gateway_connected",
            "1 while every shard of this process is connected to Discord's gateway.",
            registry=registry,
        )
        self.gateway_latency = Gauge(
            "imagine_gateway_latency_seconds",
            "Time between a gateway heartbeat and its acknowledgement, averaged over shards.",
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.jobs.labels(outcome)
        for call in PROVIDER_CALLS:
            self.provider_seconds.labels(call)

    # -- Telemetry --

    def job_ended(self, outcome: str, guild_id: int | None, cents: int) -> None:
        self.jobs.labels(outcome).inc()
        self.spend.labels(DM_LABEL if guild_id is None else str(guild_id)).inc(cents)

    def provider_call(self, kind: str, seconds: float, error: str | None) -> None:
        self.provider_seconds.labels(kind).observe(seconds)
        if error is not None:
            self.provider_errors.labels(kind, error).inc()

    def polled(self, seconds: float, error: str | None) -> None:
        """The API client's poll observer."""
        self.provider_call("poll", seconds, error)

    # -- sources read at scrape time --

    def watch_slots(self, slots: AdaptiveLimit) -> None:
        self.in_flight.set_function(lambda: slots.in_flight)
        self.waiting.set_function(lambda: slots.waiting)
        self.limit.set_function(lambda: slots.limit)

    def watch_gateway(self, bot: commands.AutoShardedBot) -> None:
        self.gateway_connected.set_function(lambda: float(gateway_connected(bot)))
        self.gateway_latency.set_function(lambda: _finite(bot.latency))

    def discord_trace(self) -> aiohttp.TraceConfig:
        """Counts Discord's 429s as discord.py's HTTP session receives them."""
        trace = aiohttp.TraceConfig()

        async def on_request_end(
            session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            if params.response.status == 429:
                scope = params.response.headers.get("X-RateLimit-Scope", "none")
                self.discord_rate_limited.labels(scope).inc()

        trace.on_request_end.append(on_request_end)
        return trace

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def gateway_connected(bot: commands.AutoShardedBot) -> bool:
    """Ready, not closed, and every shard's connection open."""
    if bot.is_closed() or not bot.is_ready():
        return False
    shards = bot.shards.values()
    return bool(shards) and not any(shard.is_closed() for shard in shards)


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan


class Monitoring(commands.Cog):
    """Serves /metrics and /healthz on `host`:`port` while the bot runs, and samples the
    event loop's lag."""

    def __init__(
        self,
        bot: commands.AutoShardedBot,
        state: BotState,
        metrics: Metrics,
        host: str,
        port: int,
    ) -> None:
        self.bot = bot
        self.state = state
        self.metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._lag: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/healthz", self._serve_health)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as error:
            await runner.cleanup()
            raise StartupFailure(
                Exit.BAD_SETTINGS,
                f"METRICS_ADDRESS {self.host}:{self.port} cannot be served "
                f"({error.strerror or error}). Choose a free port, or leave it empty.",
            ) from None
        self._runner = runner
        self._lag = asyncio.create_task(self._sample_lag())
        log.info("Serving /metrics and /healthz on %s:%s", self.host, self.port)

    async def cog_unload(self) -> None:
        if self._lag is not None:
            self._lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag
            self._lag = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def health(self) -> dict[str, bool]:
        return {"gateway": gateway_connected(self.bot), "database": await self._database()}

    async def _database(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_CHECK_SECONDS):
                await self.state.get_state("health")
        except Exception as error:
            log.warning("health check: the database did not answer: %s", error)
            return False
        return True

    async def _serve_health(self, request: web.Request) -> web.Response:
        health = await self.health()
        return web.json_response(health, status=200 if all(health.values()) else 503)

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _sample_lag(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(LAG_INTERVAL_SECONDS)
            late = time.monotonic() - started - LAG_INTERVAL_SECONDS
            self.metrics.event_loop_lag.observe(max(0.0, late))


def check_health(host: str, port: int, *, timeout: float = 3.0) -> tuple[bool, str]:
    """Ask a running bot's /healthz (from another process): healthy, and a line saying so."""
    if host in ("0.0.0.0", "::"):  # served on every address: ask the local one
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
        if error.code != 503:
            return False, f"unhealthy: {url} answered HTTP {error.code}"
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return False, f"unhealthy: no answer from {url} ({reason})"
    try:
        health = json.loads(body)
    except ValueError:
        return False, f"unhealthy: {url} answered something other than JSON"
    down = [part for part in ("gateway", "database") if health.get(part) is not True]
    if down:
        return False, f"unhealthy: {' and '.join(down)} down"
    return True, "healthy: gateway connected, database answering"

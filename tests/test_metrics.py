"""With METRICS_ADDRESS set, the bot serves /metrics and /healthz while it runs, and the
figures follow its jobs; without it, nothing listens."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from bot.metrics import Metrics, Monitoring, check_health
from bot.settings import Settings
from tests.fakes.fake_vibedream import FakeVibeDream, Outcome
from tests.world import GUILD_ID, running_world


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def scrape(session: aiohttp.ClientSession, port: int) -> dict[tuple[str, str], float]:
    """Every sample, keyed by its name and its labels as `k=v,...` (sorted)."""
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[(sample.name, labels)] = sample.value
    return samples


async def test_metrics_follow_a_job_and_health_reports_each_part(tmp_path: Path) -> None:
    """During a job: one in flight. After it: one completed, its cost on its server, each API
    call timed. /healthz: the database answers; no gateway runs here, so 503."""
    port = free_port()
    api = FakeVibeDream(estimated_time="0.05-0.3s", cost_cents=3)
    async with (
        running_world(tmp_path, fake_api=api, metrics_address=f"127.0.0.1:{port}") as world,
        aiohttp.ClientSession() as session,
    ):
        world.api.plan(Outcome(generation_time=1.0))
        record = await world.imagine(prompt="a lighthouse at dusk")
        deadline = time.monotonic() + 5
        while (await scrape(session, port))[("imagine_jobs_in_flight", "")] != 1:
            assert time.monotonic() < deadline, "the job never showed as in flight"
            await asyncio.sleep(0.05)
        during = await scrape(session, port)
        assert during[("imagine_jobs_total", "outcome=completed")] == 0
        assert during[("imagine_jobs_waiting", "")] == 0
        assert during[("imagine_jobs_limit", "")] == world.bot.settings.generation_concurrency

        message = await world.settled(record)
        assert message.attachments
        after = await scrape(session, port)
        assert after[("imagine_jobs_in_flight", "")] == 0
        assert after[("imagine_jobs_total", "outcome=completed")] == 1
        assert after[("imagine_jobs_total", "outcome=failed")] == 0
        assert after[("imagine_spend_cents_total", f"guild={GUILD_ID}")] == 3
        assert after[("imagine_provider_call_seconds_count", "call=submit")] == 1
        assert after[("imagine_provider_call_seconds_count", "call=download")] == 1
        assert after[("imagine_provider_call_seconds_count", "call=poll")] >= 1
        assert after[("imagine_provider_call_seconds_sum", "call=poll")] > 0
        assert after[("imagine_event_loop_lag_seconds_count", "")] >= 1  # sampled every 0.5 s
        assert after[("imagine_gateway_connected", "")] == 0

        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 503
            assert await response.json() == {"gateway": False, "database": True}
        healthy, line = await asyncio.to_thread(check_health, "127.0.0.1", port)
        assert not healthy and line == "unhealthy: gateway down"

    with pytest.raises(aiohttp.ClientConnectionError):  # the bot's close stopped the server
        async with aiohttp.ClientSession() as session:
            await scrape(session, port)


async def test_health_is_200_once_the_gateway_is_up(tmp_path: Path) -> None:
    """/healthz answers 200 with both parts true when the gateway is connected."""
    port = free_port()
    async with running_world(tmp_path, metrics_address=f"127.0.0.1:{port}") as world:
        monitoring = world.bot.get_cog("Monitoring")
        assert isinstance(monitoring, Monitoring)
        assert await monitoring.health() == {"gateway": False, "database": True}
        # What the gateway's READY leaves behind, without a gateway: the bot counts as ready
        # and has no shard that is closed. (tests/test_startup.py runs a real gateway.)
        world.bot._ready.set()
        monkey = pytest.MonkeyPatch()
        monkey.setattr(type(world.bot), "shards", property(lambda bot: {0: _OpenShard()}))
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/healthz") as response,
            ):
                assert response.status == 200
                assert await response.json() == {"gateway": True, "database": True}
            healthy, line = await asyncio.to_thread(check_health, "0.0.0.0", port)
            assert healthy, line
        finally:
            monkey.undo()
            world.bot._ready.clear()


class _OpenShard:
    def is_closed(self) -> bool:
        return False


async def test_without_metrics_address_nothing_is_served(tmp_path: Path) -> None:
    """METRICS_ADDRESS unset: no Monitoring cog is added."""
    async with running_world(tmp_path) as world:
        assert world.bot.get_cog("Monitoring") is None
        assert world.bot.settings.metrics_endpoint is None


async def test_discord_429s_are_counted_from_the_responses() -> None:
    """Each 429 discord.py's session receives counts once, by its rate-limit scope."""
    metrics = Metrics()

    async def limited(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"X-RateLimit-Scope": "user"})

    app = web.Application()
    app.router.add_get("/", limited)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession(trace_configs=[metrics.discord_trace()]) as session:
            for _ in range(2):
                async with session.get(f"http://{host}:{port}/") as response:
                    assert response.status == 429
    finally:
        await runner.cleanup()
    assert metrics.discord_rate_limited.labels("user")._value.get() == 2


@pytest.mark.parametrize(
    ("address", "endpoint"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("0.0.0.0:9108", ("0.0.0.0", 9108)),
        ("localhost:80", ("localhost", 80)),
        ("[::1]:9108", ("::1", 9108)),
        ("", None),
    ],
)
def test_metrics_address_is_read(address: str, endpoint: tuple[str, int] | None) -> None:
    """host:port, IPv6 in brackets; empty means off."""
    settings = Settings(
        discord_token="a.b",
        vibedream_api_key="k",
        metrics_address=address,
        _env_file=None,  # type: ignore[call-arg]
    )
    assert settings.metrics_endpoint == endpoint


@pytest.mark.parametrize("address", ["9108", "127.0.0.1", "127.0.0.1:0", "host:99999", "::1:80"])
def test_a_bad_metrics_address_is_refused(address: str) -> None:
    """Anything but host:port with a port from 1 to 65535 is a settings error."""
    with pytest.raises(ValidationError, match="must be host:port"):
        Settings(
            discord_token="a.b",
            vibedream_api_key="k",
            metrics_address=address,
            _env_file=None,  # type: ignore[call-arg]
        )

"""The processes of the scale-out benchmark (`python -m benchmarks.cluster`): processes that
admit jobs over one PostgreSQL database, a fake Discord that several bot processes share, and
the real bot over a PostgreSQL database.

    python -m benchmarks._cluster_bot admit PLAN
    python -m benchmarks._cluster_bot discord
    python -m benchmarks._cluster_bot bot --discord JSON --api URL --database-url URL
                                          [--jobs N] [--members M] [--inject]
                                          [--lease-seconds S]

`admit` runs one admitting process's `Plan` (JSON): it opens the database with
`open_storage` (or, for the control, the adapter without its admission lock), admits through
`Admission.admit` as the bot does, and speaks one JSON line per step on stdout: `ready` once
warmed up, then, for each line read from stdin (the start barrier: the benchmark writes one to
every process at once), one round's outcomes.

`discord` serves a FakeDiscord (rate limits on) with a control API, and prints the JSON the
bot processes attach with: its `report` call returns every request it served (route, path,
time, status, files) and, per interaction, its prompt, token, channel and final reply.

`bot` is the real bot as tests/crash_bot.py runs it (`bot.app.build_bot`, real `Settings`,
the commands injected into itself through the test harness), but over PostgreSQL, listening
for configuration changes as `bot.app.run` does, and with no shard ids: every process has
the same scope, so any of them may claim any job a dead one left. It prints one JSON line
once it is ready (`ready`), or when it starts injecting `--jobs` /imagine commands
(`injecting`), then runs until SIGTERM. `--lease-seconds` shortens its leases (and the
recovery sweep, a third of that) for a quick test; unset, the bot's own are used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import build_bot, stop_gracefully_on_signals
from bot.core.admission import Admission
from bot.core.leases import LeaseKeeper
from bot.core.limits import LimitReached, Limits
from bot.core.models import Requester
from bot.core.policy import BotDefaults, GuildPolicy
from bot.core.pricing import Pricing
from bot.core.refusals import Refused
from bot.core.requests import GenerationRequest
from bot.discord_bot import ImagineBot
from bot.logs import setup_logging
from bot.settings import Settings
from bot.storage import open_storage
from bot.storage.postgres import PostgresStorage
from tests.crash_bot import (
    API_KEY,
    FIRST_MEMBER,
    GUILD_ID,
    AttachedFakeDiscord,
    channel_for,
    member_for,
    prompt_for,
)
from tests.fakes.discord_harness import make_guild, make_user, slash, text_channel
from tests.fakes.fake_discord import FakeDiscord

REQUEST = GenerationRequest(prompt="a lighthouse at dusk", size="512*512", seed=42)
CHANNEL_ID = 100
RECOVERY_MODULE = "cogs.recovery"


def say(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "at": time.time(), **fields}), flush=True)


# -- an admitting process -----------------------------------------------------------------


class WithoutAdmissionLock(PostgresStorage):
    """The adapter with its admission lock taken out: the control that shows the lock is what
    keeps admission exact (as in tests/storage/test_postgres_only.py)."""

    ADMISSION_LOCK = "SELECT %s::bigint"


@dataclass(frozen=True)
class Plan:
    """What one admitting process does, against a daily budget of `budget` cents at 1 cent
    a job. Bursts: for each guild in `guilds`, at the barrier, `requests` admissions at once
    (from as many members, from `first_user` on). Paced (`rate` > 0): at the barrier, `rate`
    admissions a second to `guilds[0]` for `seconds`, the k-th sent (k + `offset`) / `rate` s
    after the barrier, from `requests` members in turn. Either way a burst to `warm_up_guild`
    comes first, unmeasured, so that connections are open and caches warm."""

    url: str
    lock: bool
    budget: int
    guilds: tuple[int, ...]
    requests: int
    first_user: int
    warm_up_guild: int
    rate: float = 0.0
    seconds: float = 0.0
    offset: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        fields = json.loads(text)
        return cls(**{**fields, "guilds": tuple(fields["guilds"])})


async def admit(plan: Plan) -> None:
    storage = (
        await open_storage(plan.url) if plan.lock else await WithoutAdmissionLock.open(plan.url)
    )
    try:
        limits = Limits(guild_daily_budget_cents=plan.budget)
        policy = GuildPolicy(storage, BotDefaults(limits=limits))
        admission = Admission(storage, policy, Pricing(1), LeaseKeeper(storage))
        for guild_id in (plan.warm_up_guild, *plan.guilds):
            await policy.limits_for(guild_id)  # each server's policy is cached from here on
        latencies: list[float] = []
        failures: list[str] = []

        async def one(guild_id: int, user: int) -> str:
            requester = Requester(user_id=user, guild_id=guild_id, channel_id=CHANNEL_ID)
            started = time.perf_counter()
            try:
                await admission.admit(requester, REQUEST)
            except LimitReached:
                return "refused"
            except Refused as refusal:  # the ledger could not be written
                failures.append(str(refusal))
                return "failed"
            finally:
                latencies.append(time.perf_counter() - started)
            return "admitted"

        users = range(plan.first_user, plan.first_user + plan.requests)
        await asyncio.gather(*(one(plan.warm_up_guild, user) for user in users))
        say("ready")
        for guild_id in plan.guilds:
            if not await asyncio.to_thread(sys.stdin.readline):  # the start barrier
                return  # stdin closed: the benchmark is over
            latencies.clear()
            failures.clear()
            if plan.rate > 0:
                started = time.perf_counter()
                sent = []
                for k in range(round(plan.rate * plan.seconds)):
                    delay = started + (k + plan.offset) / plan.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    user = users[k % len(users)]
                    sent.append(asyncio.create_task(one(guild_id, user)))
                outcomes = Counter(await asyncio.gather(*sent))
            else:
                outcomes = Counter(await asyncio.gather(*(one(guild_id, user) for user in users)))
            say(
                "round",
                guild_id=guild_id,
                outcomes=outcomes,
                latencies=latencies if plan.rate > 0 else [],
                failures=failures[:3],
            )
    finally:
        await storage.close()


# -- the fake Discord process -------------------------------------------------------------


def report(fake: FakeDiscord) -> dict[str, Any]:
    """Every request served, and what each interaction's requester was finally shown."""
    interactions = []
    for record in fake.interactions.values():
        options = {o["name"]: o.get("value") for o in record.payload["data"].get("options", [])}
        original = (
            fake.messages.get(record.original_message_id)
            if record.original_message_id is not None
            else None
        )
        in_channel = fake.messages_in(record.channel_id) if record.channel_id else []
        interactions.append(
            {
                "prompt": options.get("prompt"),
                "token": record.token,
                "channel_id": record.channel_id,
                "acknowledged": record.acknowledged,
                "original": None
                if original is None
                else {"content": original.content, "images": len(original.attachments)},
                "images_in_channel": sum(len(message.attachments) for message in in_channel),
            }
        )
    return {
        "requests": [
            {
                "route": request.route,
                "path": request.path,
                "time": request.time,
                "status": request.status,
                "files": len(request.files),
            }
            for request in fake.requests
        ],
        "interactions": interactions,
        "rate_limited": sum(fake.rate_limited.values()),
    }


async def serve_discord() -> None:
    fake = FakeDiscord(rate_limits=True, validate=False)

    def register(payload: dict[str, Any]) -> dict[str, Any]:
        record = fake.register_interaction(payload)
        return {"id": record.id, "token": record.token}

    calls: dict[str, Any] = {
        "add_channel": lambda channel, permissions: fake.add_channel(
            channel, bot_permissions=permissions
        ),
        "add_guild": fake.add_guild,
        "register": register,
        "command_id": lambda name, kind, guild_id: fake.command_id(name, kind, guild_id),
        "report": lambda: report(fake),
    }

    async def rpc(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"result": calls[body["method"]](*body["args"])})

    control = web.Application()
    control.router.add_post("/rpc", rpc)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signal_number, stop.set)
    async with fake:
        host, port = runner.addresses[0][:2]
        info = {
            "base_url": fake.base_url,
            "control": f"http://{host}:{port}/rpc",
            "token": fake.token,
            "bot_user": fake.bot_user,
            "application_id": fake.application_id,
        }
        print(json.dumps(info), flush=True)
        await stop.wait()
    await runner.cleanup()


# -- the bot process ----------------------------------------------------------------------


async def run_bot(arguments: argparse.Namespace) -> None:
    fake = AttachedFakeDiscord(json.loads(arguments.discord))
    fake.install()
    settings = Settings(
        discord_token=fake.token,
        vibedream_api_key=API_KEY,
        vibedream_base_url=arguments.api,
        database_url=arguments.database_url,
        discord_shard_count=None,  # one scope for every process: any may claim any job
        discord_shard_ids=None,
        default_user_daily_images=0,
        default_user_max_concurrent=0,
        default_guild_daily_budget_cents=0,
        shutdown_grace_seconds=5.0,
        _env_file=None,
    )
    setup_logging(settings.log_level, [fake.token, API_KEY])
    async with aiohttp.ClientSession() as session:
        storage = await open_storage(settings.database_url, exclusive=True)
        try:
            bot = build_bot(settings, session, storage)
            if arguments.lease_seconds is not None:
                shorten_leases(bot, arguments.lease_seconds)
            await storage.listen_guild_changes(bot.services.policy.invalidate)
            await bot.login(fake.token)  # setup_hook: cogs, sync, the recovery sweep
            channels = [
                text_channel(f"job-{n}", channel_id=channel_for(n)) for n in range(arguments.jobs)
            ]
            make_guild(bot, fake, guild_id=GUILD_ID, channels=channels)  # type: ignore[arg-type]
            stop_gracefully_on_signals(bot, settings.shutdown_grace_seconds)
            owner = bot.services.leases.owner
            if arguments.inject:
                people = {
                    user_id: make_user(f"m{user_id - FIRST_MEMBER}", user_id=user_id)
                    for user_id in {member_for(n, arguments.members) for n in range(arguments.jobs)}
                }
                say("injecting", jobs=arguments.jobs, owner=owner)
                await asyncio.gather(
                    *(
                        slash(
                            bot,
                            fake,  # type: ignore[arg-type]
                            "imagine",
                            {"prompt": prompt_for(n), "size": "512*512"},
                            user=people[member_for(n, arguments.members)],
                            guild_id=GUILD_ID,
                            channel_id=channel_for(n),
                        )
                        for n in range(arguments.jobs)
                    )
                )
            else:
                say("ready", owner=owner)
            # Until SIGTERM's graceful shutdown (the bot's own handler) has closed the bot.
            while not bot.is_closed():  # noqa: ASYNC110 - nothing to await but the state
                await asyncio.sleep(0.05)
            await fake.aclose()
        finally:
            await storage.close()


def shorten_leases(bot: ImagineBot, seconds: float) -> None:
    """Leases of `seconds`, swept for every third of that, as the bot's are for LEASE_SECONDS.
    discord.py loads an extension as a fresh module, so the sweep's interval is set on the
    recovery cog's module once it is loaded, before the sweep starts (in setup_hook)."""
    bot.services.leases.seconds = seconds
    load = bot.load_extension

    async def load_extension(name: str, *, package: str | None = None) -> None:
        await load(name, package=package)
        if name == RECOVERY_MODULE:
            recovery: Any = sys.modules[name]
            recovery.SWEEP_SECONDS = seconds / 3

    bot.load_extension = load_extension  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description="A bot process of a cluster, or its Discord.")
    modes = parser.add_subparsers(dest="mode", required=True)
    admitting = modes.add_parser("admit", help="admit jobs as one process of a cluster")
    admitting.add_argument("plan", help="the Plan, as JSON")
    modes.add_parser("discord", help="serve the fake Discord the bot processes share")
    bot = modes.add_parser("bot", help="run the real bot against the fakes and PostgreSQL")
    bot.add_argument("--discord", required=True, help="the JSON the fake Discord printed")
    bot.add_argument("--api", required=True, help="the fake API's base URL")
    bot.add_argument("--database-url", required=True, help="postgresql://...")
    bot.add_argument("--jobs", type=int, default=0, help="one channel for each")
    bot.add_argument("--members", type=int, default=10)
    bot.add_argument("--inject", action="store_true", help="send the /imagine commands")
    bot.add_argument("--lease-seconds", type=float, default=None)
    arguments = parser.parse_args()
    if arguments.mode == "admit":
        asyncio.run(admit(Plan.from_json(arguments.plan)))
    elif arguments.mode == "discord":
        asyncio.run(serve_discord())
    else:
        asyncio.run(run_bot(arguments))


if __name__ == "__main__":
    main()

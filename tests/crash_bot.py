"""Kill the real bot with SIGKILL in the middle of its work, restart it, and account for the money.

One trial: the fake API (billing each submit on arrival, answering 200 ms later, generating
for 0.6-2.5 s) and the fake Discord run as processes of their own; a bot process over a fresh
SQLite file is sent N /imagine commands at once and killed at a seeded moment (`kill_plan`);
a second bot process over the same file recovers what the first left; once the ledger shows
every job delivered it is stopped with SIGTERM. Then the ledger is held against the
provider's billing, per member, and against what each requester was told.

The bot processes are the real thing: `bot.app.build_bot` with real `Settings`, pointed at the
fakes, which injects the commands into itself through the test harness (as benchmarks/load.py
does), so the process that dies is the one doing the work. This module is also their entry
point:

    python -m tests.crash_bot discord      # the fake Discord, with a control API; prints JSON
    python -m tests.crash_bot bot --discord JSON --api URL --database PATH --jobs N [--inject]
                                  [--members M] [--without-write-ahead]

`--without-write-ahead` is the control: in that bot process only, the runner's ledger is
wrapped so that a job stays 'reserved' while its submit is in flight and becomes 'submitted'
only once the API answers, as before the write-ahead existed. Used by tests/test_crash_suite.py
and `python -m benchmarks.crash`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiohttp import web

from bot.app import api_session, build_bot, stop_gracefully_on_signals
from bot.core.runner import LedgerUnavailable
from bot.logs import setup_logging
from bot.settings import Settings
from bot.storage import open_storage
from cogs._render import NOT_STARTED
from tests.fakes.discord_harness import make_guild, make_user, slash, text_channel
from tests.fakes.discord_process import RemoteFakeDiscord
from tests.fakes.fake_discord import FakeDiscord

ROOT = Path(__file__).resolve().parents[1]
GUILD_ID = 400_000_000_000_000_001
FIRST_CHANNEL = 500_000_000_000_000_100  # one channel per job: a post there is about that job
FIRST_MEMBER = 200_000_000_000_000_000
API_KEY = "test-api-key"
SUBMIT_LATENCY = 0.2
ANYWHERE, IN_FLIGHT = "anywhere", "in flight"
# What a requester reads as "you were not charged".
FREE_CLAIMS = (NOT_STARTED, LedgerUnavailable.user_message)
START_TIMEOUT = 30.0


def prompt_for(job: int) -> str:
    return f"crash job {job}"


def member_for(job: int, members: int) -> int:
    return FIRST_MEMBER + job % members


def channel_for(job: int) -> int:
    return FIRST_CHANNEL + job


# -- the fake Discord process -------------------------------------------------------------


def _outcomes(fake: FakeDiscord) -> list[dict[str, Any]]:
    """Per interaction: its prompt, its requester, and every text the requester was shown
    about it: the first response, and each message in the job's channel (the edited
    original, or a post that mentions them when the original could not be edited)."""
    found = []
    for record in fake.interactions.values():
        options = {o["name"]: o.get("value") for o in record.payload["data"].get("options", [])}
        messages = fake.messages_in(record.channel_id) if record.channel_id else []
        texts = [message.content for message in messages]
        if record.response_data and record.response_data.get("content"):
            texts.append(record.response_data["content"])
        found.append(
            {
                "prompt": options.get("prompt"),
                "user_id": int(record.user["id"]),
                "acknowledged": record.acknowledged,
                "texts": texts,
                "images": sum(len(message.attachments) for message in messages),
            }
        )
    return found


async def serve_discord() -> None:
    """A FakeDiscord that outlives the bot processes, with the control calls the harness
    needs (as tests/fakes/discord_process.py) and `outcomes` for the account."""
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
        "outcomes": lambda: _outcomes(fake),
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


class AttachedFakeDiscord(RemoteFakeDiscord):
    """A handle on a fake Discord process that another process started and will stop."""

    def __init__(self, info: dict[str, Any]) -> None:  # no super(): it would start one
        self.base_url = info["base_url"]
        self.token = info["token"]
        self.bot_user = info["bot_user"]
        self.application_id = info["application_id"]
        self._control = info["control"]
        self.channels = {}
        self.channel_permissions = {}
        self._command_ids = {}
        self._session = None

    def close(self) -> None:
        pass  # not ours to stop


# -- the bot process ----------------------------------------------------------------------


class WithoutWriteAhead:
    """The control: the runner's ledger as it was before the write-ahead. Nothing is written
    before the submit is sent; the row goes from 'reserved' to 'submitted' once the API
    answers."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    async def mark_submitting(self, job_id: int, owner: str) -> bool:
        return True

    async def mark_submitted(
        self, job_id: int, owner: str, prediction_id: str, cost_cents: int | None
    ) -> bool:
        await self._ledger.mark_submitting(job_id, owner)
        return bool(await self._ledger.mark_submitted(job_id, owner, prediction_id, cost_cents))


def _say(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "at": time.time(), **fields}), flush=True)


async def run_bot(arguments: argparse.Namespace) -> None:
    info = json.loads(arguments.discord)
    fake = AttachedFakeDiscord(info)
    fake.install()
    settings = Settings(
        discord_token=fake.token,
        vibedream_api_key=API_KEY,
        vibedream_base_url=arguments.api,
        database_url=f"sqlite:///{arguments.database}",
        default_user_daily_images=0,
        default_user_max_concurrent=0,
        default_guild_daily_budget_cents=0,
        _env_file=None,
    )
    setup_logging(settings.log_level, [fake.token, API_KEY])
    async with api_session() as session:
        storage = await open_storage(settings.database_url, exclusive=True)
        try:
            bot = build_bot(settings, session, storage)
            if arguments.without_write_ahead:
                runner = bot.services.runner
                assert hasattr(runner, "_ledger"), "the runner no longer keeps its ledger there"
                runner._ledger = WithoutWriteAhead(runner._ledger)
            await bot.login(fake.token)  # setup_hook: cogs, sync, the recovery sweep
            channels = [
                text_channel(f"job-{n}", channel_id=channel_for(n)) for n in range(arguments.jobs)
            ]
            make_guild(bot, fake, guild_id=GUILD_ID, channels=channels)  # type: ignore[arg-type]
            stop_gracefully_on_signals(bot, settings.shutdown_grace_seconds)
            if arguments.inject:
                people = {
                    user_id: make_user(f"m{user_id - FIRST_MEMBER}", user_id=user_id)
                    for user_id in {member_for(n, arguments.members) for n in range(arguments.jobs)}
                }
                _say("injecting", jobs=arguments.jobs)
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
                _say("injected", jobs=arguments.jobs)
            else:
                _say("ready")
            # Until SIGTERM's graceful shutdown (the bot's own handler) has closed the bot.
            while not bot.is_closed():  # noqa: ASYNC110 - nothing to await but the state
                await asyncio.sleep(0.05)
            await fake.aclose()
        finally:
            await storage.close()


# -- one trial ----------------------------------------------------------------------------


@dataclass
class Trial:
    number: int
    jobs: int
    write_ahead: bool
    aim: str  # "anywhere" in the window, or "in flight": while the first submit is unanswered
    killed_after_ms: float  # from the start of the injection
    admitted: int = 0  # ledger rows: jobs that got past admission before the kill
    at_kill: dict[str, int] = field(default_factory=dict)  # ledger states when killed
    billed_unrecorded_at_kill: int = 0  # billed predictions the ledger had no id for yet
    final_states: dict[str, int] = field(default_factory=dict)
    billed_cents: int = 0
    ledger_cents: int = 0
    billed_by_member: dict[int, int] = field(default_factory=dict)
    ledger_by_member: dict[int, int] = field(default_factory=dict)
    told_free_though_billed: int = 0
    double_submits: int = 0
    submissions: int = 0
    rows_reaching_api: int = 0
    unknown_prediction_ids: int = 0
    undelivered: int = 0
    unanswered: int = 0  # interactions with no answer at all: killed before admitting them
    recovery_seconds: float = 0.0
    folder: str = ""

    @property
    def under_count(self) -> int:
        """Cents billed to a member beyond what the ledger charges them, summed over members."""
        return sum(
            max(0, billed - self.ledger_by_member.get(member, 0))
            for member, billed in self.billed_by_member.items()
        )


class Processes:
    """The processes a trial starts, each stopped by its PID when the trial ends."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.started: list[asyncio.subprocess.Process] = []

    def _log(self, name: str) -> BinaryIO:
        return open(self.folder / f"{name}.log", "ab")

    async def start(self, name: str, *arguments: str) -> tuple[asyncio.subprocess.Process, str]:
        """Start `python -m ...` with its log in the folder; return it and its first line."""
        log = self._log(name)  # the child keeps its own copy of the descriptor
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                *arguments,
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        finally:
            log.close()
        self.started.append(process)
        return process, await self.line(process, name)

    async def line(self, process: asyncio.subprocess.Process, name: str) -> str:
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"{name} said nothing:\n{self.log_tail(name)}") from None
        if not line:
            raise RuntimeError(f"{name} exited early:\n{self.log_tail(name)}")
        return line.decode().strip()

    def log_tail(self, name: str, lines: int = 30) -> str:
        log = self.folder / f"{name}.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self, process: asyncio.subprocess.Process, within: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it has not ended `within` seconds later."""
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), within)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                await process.wait()

    async def stop_all(self) -> None:
        for process in reversed(self.started):
            await self.stop(process, within=5.0)


def _ledger_rows(database: Path) -> list[sqlite3.Row]:
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as connection:
        connection.row_factory = sqlite3.Row
        try:
            return connection.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        except sqlite3.OperationalError as error:  # killed before the schema was written
            if "no such table" in str(error):
                return []
            raise


async def _api_stats(session: aiohttp.ClientSession, api_url: str) -> dict[str, Any]:
    async with session.get(f"{api_url.removesuffix('/api/v1')}/_fake/stats") as response:
        stats: dict[str, Any] = json.loads(await response.text())
        return stats


async def _discord_call(session: aiohttp.ClientSession, control: str, method: str) -> Any:
    async with session.post(control, json={"method": method, "args": []}) as response:
        return (await response.json())["result"]


async def run_trial(
    folder: Path,
    *,
    number: int,
    jobs: int,
    members: int,
    kill: Kill,
    seed: int,
    write_ahead: bool = True,
    recovery_deadline: float = 30.0,
) -> Trial:
    processes = Processes(folder)
    database = folder / "imagine.db"
    trial = Trial(number, jobs, write_ahead, kill.aim, kill.after * 1000, folder=str(folder))
    try:
        async with aiohttp.ClientSession() as session:
            (_, api_url), (_, discord_line) = await asyncio.gather(
                processes.start(
                    "fake-api",
                    "tests.fakes.fake_vibedream",
                    "--seed",
                    str(seed),
                    "--submit-latency",
                    str(SUBMIT_LATENCY),
                ),
                processes.start("fake-discord", "tests.crash_bot", "discord"),
            )
            discord_info = json.loads(discord_line)
            bot_arguments = [
                "tests.crash_bot",
                "bot",
                "--discord",
                discord_line,
                "--api",
                api_url,
                "--database",
                str(database),
                "--jobs",
                str(jobs),
                "--members",
                str(members),
            ]
            if not write_ahead:
                bot_arguments.append("--without-write-ahead")

            first, said = await processes.start("bot-1", *bot_arguments, "--inject")
            assert json.loads(said)["event"] == "injecting", said
            injecting = time.monotonic()
            if kill.aim == IN_FLIGHT:  # from when the provider billed the first submit
                while not (await _api_stats(session, api_url))["predictions"]:
                    if time.monotonic() - injecting > START_TIMEOUT:
                        raise RuntimeError("the bot submitted nothing")
                    await asyncio.sleep(0.005)
            await asyncio.sleep(kill.after)
            os.kill(first.pid, signal.SIGKILL)
            trial.killed_after_ms = (time.monotonic() - injecting) * 1000
            await first.wait()

            at_kill = _ledger_rows(database)
            stats = await _api_stats(session, api_url)
            recorded = {row["prediction_id"] for row in at_kill if row["prediction_id"]}
            trial.admitted = len(at_kill)
            trial.at_kill = dict(Counter(_phase(row) for row in at_kill))
            trial.billed_unrecorded_at_kill = len(set(stats["predictions"]) - recorded)

            recovering = time.monotonic()
            second, said = await processes.start("bot-2", *bot_arguments)
            assert json.loads(said)["event"] == "ready", said
            deadline = recovering + recovery_deadline
            while any(row["delivered_at"] is None for row in _ledger_rows(database)):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            trial.recovery_seconds = time.monotonic() - recovering
            await processes.stop(second)

            stats = await _api_stats(session, api_url)
            outcomes = await _discord_call(session, discord_info["control"], "outcomes")
        rows = _ledger_rows(database)
        await _account(trial, rows, stats, outcomes, database, members)
    finally:
        await processes.stop_all()
    return trial


def _phase(row: sqlite3.Row) -> str:
    return "delivered" if row["delivered_at"] is not None else row["state"]


async def _account(
    trial: Trial,
    rows: list[sqlite3.Row],
    stats: dict[str, Any],
    outcomes: list[dict[str, Any]],
    database: Path,
    members: int,
) -> None:
    member_of = {prompt_for(n): member_for(n, members) for n in range(trial.jobs)}
    predictions = stats["predictions"]
    trial.billed_cents = stats["billed_cents"]
    trial.submissions = stats["submissions"]
    billed_prompts: Counter[str] = Counter()
    for prediction in predictions.values():
        prompt = prediction["prompt"]
        billed_prompts[prompt] += 1
        member = member_of[prompt]
        trial.billed_by_member[member] = (
            trial.billed_by_member.get(member, 0) + prediction["cost_cents"]
        )
    assert sum(trial.billed_by_member.values()) == trial.billed_cents

    trial.final_states = dict(Counter(row["state"] for row in rows))
    trial.undelivered = sum(row["delivered_at"] is None for row in rows)
    trial.rows_reaching_api = sum(row["prompt"] in billed_prompts for row in rows)
    trial.double_submits = sum(count - 1 for count in billed_prompts.values()) + max(
        0, trial.submissions - trial.rows_reaching_api
    )
    trial.unknown_prediction_ids = sum(
        1 for row in rows if row["prediction_id"] and row["prediction_id"] not in predictions
    )

    if rows:
        storage = await open_storage(f"sqlite:///{database}")
        try:
            trial.ledger_cents = await storage.total_charged_cents()
            for member in sorted(set(member_of.values())):
                tally = await storage.tally(GUILD_ID, user_id=member)
                trial.ledger_by_member[member] = tally.cents
        finally:
            await storage.close()

    for outcome in outcomes:
        texts = outcome["texts"]
        if not outcome["acknowledged"] and not texts:
            trial.unanswered += 1
        told_free = any(claim in text for text in texts for claim in FREE_CLAIMS)
        if told_free and outcome["prompt"] in billed_prompts:
            trial.told_free_though_billed += 1


@dataclass(frozen=True)
class Kill:
    aim: str
    after: float  # seconds after the injection starts, or after the first billed submit


def kill_plan(trials: int, window: float, rng: random.Random) -> list[Kill]:
    """When each trial's SIGKILL lands. Trials alternate between two aims. "anywhere": a moment
    within `window` seconds of the injection, stratified so that every part of the window is
    hit (squared, so that more land early, where admission and the submits are), whichever
    phase the jobs are in then. "in flight": a moment within one submit latency of the
    provider billing the first submit, before it answers, so that it lands, however fast or
    slow the machine, while submits are billed and unanswered."""
    anywhere = (trials + 1) // 2
    moments = [window * ((n + rng.random()) / anywhere) ** 2 for n in range(anywhere)]
    plan = []
    for n in range(trials):
        if n % 2 == 0:
            plan.append(Kill(ANYWHERE, moments[n // 2]))
        else:
            plan.append(Kill(IN_FLIGHT, rng.uniform(0.0, SUBMIT_LATENCY)))
    return plan


async def run_trials(
    folder: Path,
    *,
    trials: int,
    jobs: int,
    members: int,
    seed: int,
    write_ahead: bool = True,
    window: float = 1.5,
    on_trial: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    rng = random.Random(seed)
    done = []
    for number, kill in enumerate(kill_plan(trials, window, rng)):
        trial = await run_trial(
            folder / f"trial-{number}",
            number=number,
            jobs=jobs,
            members=members,
            kill=kill,
            seed=seed * 1000 + number,
            write_ahead=write_ahead,
        )
        done.append(trial)
        if on_trial is not None:
            on_trial(trial)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description="A bot process to kill, or the fake Discord.")
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("discord", help="serve the fake Discord with a control API")
    bot = modes.add_parser("bot", help="run the real bot against the fakes")
    bot.add_argument("--discord", required=True, help="the JSON the fake Discord printed")
    bot.add_argument("--api", required=True, help="the fake API's base URL")
    bot.add_argument("--database", required=True, type=Path)
    bot.add_argument("--jobs", type=int, default=0, help="one channel for each")
    bot.add_argument("--members", type=int, default=5)
    bot.add_argument("--inject", action="store_true", help="send the /imagine commands")
    bot.add_argument("--without-write-ahead", action="store_true")
    arguments = parser.parse_args()
    if arguments.mode == "discord":
        asyncio.run(serve_discord())
    else:
        asyncio.run(run_bot(arguments))


if __name__ == "__main__":
    main()

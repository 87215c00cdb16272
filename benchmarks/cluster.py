"""Scale-out: several bot processes over one PostgreSQL database.

1. Over-spend. In each round, 200 requests at once for one new server against a 50-cent
   daily budget at 1 cent each, through 4 OS processes (50 each, `Admission.admit` over
   `open_storage(url)`, released together by a start barrier); the cents recorded beyond the
   budget, per round. Then the control: the same rounds through an adapter whose admission
   lock is taken out (`ADMISSION_LOCK = "SELECT %s::bigint"`), which must over-spend.
2. Admission latency across processes at 100 requests/s on one server: 4 processes each
   admitting 25 requests/s, paced and interleaved, for 10 s.
3. Recovery. Two real bot processes (benchmarks/_cluster_bot.py) with the same scope share
   one database, the fake API (generation 5 s) and one fake Discord; 50 /imagine are sent to
   process A and, once every one is submitted, A is SIGKILLed. How long until B has
   delivered every job (its leases expire LEASE_SECONDS after A's last renewal; B sweeps
   every SWEEP_SECONDS), whether each requester was shown exactly one result, and whether
   any prompt reached the API twice.
4. Discord requests in any 1 s window across the processes during piece 3, from the fake
   Discord's log, leaving out the interaction callback and webhook routes (which Discord does
   not count against the bot's global limit).

    python -m benchmarks.cluster [--database-url URL] [--processes 4] [--rounds 20]
                                 [--requests 200] [--budget 50] [--rate 100] [--seconds 10]
                                 [--jobs 50] [--generation 5]

The server is `--database-url`, else TEST_DATABASE_URL (`eval "$(.ci/postgres start)"`
starts one); each piece runs in a database of its own, created on it and dropped afterwards,
so the role needs CREATEDB. Everything listens on 127.0.0.1. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psycopg
from psycopg import sql

from benchmarks._cluster_bot import Plan
from benchmarks._harness import api_stats, percentile
from bot.core.leases import LEASE_SECONDS
from bot.storage import open_storage
from cogs.recovery import SWEEP_SECONDS
from tests.crash_bot import Processes, prompt_for

PROCESSES = 4
ROUNDS = 20
REQUESTS = 200
BUDGET = 50
RATE = 100.0
SECONDS = 10.0
LATENCY_TARGET_MS = 10.0
JOBS = 50
GENERATION_SECONDS = 5.0
WINDOW_TARGET = 50  # Discord's global limit: 50 requests a second
FIRST_USER = 10_000
START_SECONDS = 60.0  # how long an admitting process may take to open and warm up
ROUND_SECONDS = 60.0  # how long a round of admissions may take (beyond its pacing)
ROOT = Path(__file__).resolve().parents[1]


# -- the admitting processes --------------------------------------------------------------


class Admitters:
    """Admitting processes (`python -m benchmarks._cluster_bot admit PLAN`), one per plan, in
    lockstep: `round` releases them all at once (a line to each one's stdin, written back to
    back) and waits for each one's outcome. Each is stopped by its PID at the end."""

    def __init__(self, plans: Sequence[Plan], folder: Path) -> None:
        self._plans = plans
        self._folder = folder
        self._processes: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> Admitters:
        try:
            for index, plan in enumerate(self._plans):
                with self._open_log(index) as log:  # the child keeps its own copy
                    self._processes.append(
                        await asyncio.create_subprocess_exec(
                            sys.executable,
                            "-m",
                            "benchmarks._cluster_bot",
                            "admit",
                            plan.to_json(),
                            cwd=ROOT,
                            stdin=asyncio.subprocess.PIPE,
                            stdout=asyncio.subprocess.PIPE,
                            stderr=log,
                            limit=2**24,  # a paced round's line carries every latency
                        )
                    )
            for index in range(len(self._processes)):
                ready = await self._line(index, START_SECONDS)
                assert ready["event"] == "ready", ready
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def round(self, within: float) -> list[dict[str, Any]]:
        """Release every process at once; each one's outcome of the round it then runs."""
        for process in self._processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
        for process in self._processes:
            assert process.stdin is not None
            await process.stdin.drain()
        return [await self._line(index, within) for index in range(len(self._processes))]

    async def _line(self, index: int, within: float) -> dict[str, Any]:
        stdout = self._processes[index].stdout
        assert stdout is not None
        try:
            line = await asyncio.wait_for(stdout.readline(), within)
        except TimeoutError:
            raise RuntimeError(f"admitter {index} said nothing:\n{self._tail(index)}") from None
        if not line:
            raise RuntimeError(f"admitter {index} exited early:\n{self._tail(index)}")
        said: dict[str, Any] = json.loads(line)
        return said

    def _log(self, index: int) -> Path:
        return self._folder / f"admitter-{index}.log"

    def _open_log(self, index: int) -> BinaryIO:
        return self._log(index).open("wb")

    def _tail(self, index: int, lines: int = 30) -> str:
        text = self._log(index).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> None:
        """Close each one's stdin (it then ends), then SIGKILL any still running by its PID."""
        for process in self._processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in self._processes:
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                await process.wait()
        self._processes = []


# -- 1. over-spend ------------------------------------------------------------------------


@dataclass
class OverSpend:
    lock: bool
    budget: int
    recorded: list[int]  # cents recorded per round
    admitted: list[int]  # admissions the processes saw succeed, per round
    failed: int  # admissions that failed other than by a limit

    @property
    def over(self) -> list[int]:
        return [max(0, cents - self.budget) for cents in self.recorded]


async def over_spend(
    url: str,
    *,
    lock: bool = True,
    processes: int = PROCESSES,
    rounds: int = ROUNDS,
    requests: int = REQUESTS,
    budget: int = BUDGET,
    first_guild: int = 1_000,
) -> OverSpend:
    """`rounds` rounds, each of `requests` admissions at once for one new server, spread over
    `processes` processes, against `budget` cents at 1 cent each."""
    guilds = tuple(range(first_guild + 1, first_guild + 1 + rounds))
    share = requests // processes
    plans = [
        Plan(
            url,
            lock,
            budget,
            guilds,
            share + (1 if index < requests % processes else 0),
            FIRST_USER + index * (share + 1),
            warm_up_guild=first_guild,
        )
        for index in range(processes)
    ]
    with tempfile.TemporaryDirectory() as folder:
        async with Admitters(plans, Path(folder)) as admitters:
            said = [await admitters.round(ROUND_SECONDS) for _ in guilds]
    storage = await open_storage(url)
    try:
        recorded = [(await storage.tally(guild_id)).cents for guild_id in guilds]
    finally:
        await storage.close()
    admitted = [sum(one["outcomes"].get("admitted", 0) for one in round_) for round_ in said]
    failed = sum(one["outcomes"].get("failed", 0) for round_ in said for one in round_)
    return OverSpend(lock, budget, recorded, admitted, failed)


# -- 2. admission latency -----------------------------------------------------------------


@dataclass
class Latency:
    rate: float
    seconds: float
    latencies: list[float]  # seconds, every process's
    outcomes: Counter[str]

    def ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000


async def admission_latency(
    url: str,
    *,
    processes: int = PROCESSES,
    rate: float = RATE,
    seconds: float = SECONDS,
    guild_id: int = 3_000,
) -> Latency:
    """`rate` admissions a second in all to one server, from `processes` processes each
    sending its share, paced and interleaved, for `seconds`; under a budget they cannot
    reach, so every one is read, checked and written."""
    each = rate / processes
    plans = [
        Plan(
            url,
            True,
            budget=10**9,
            guilds=(guild_id,),
            requests=100,
            first_user=FIRST_USER + index * 100,
            warm_up_guild=guild_id + 1,
            rate=each,
            seconds=seconds,
            offset=index / processes,
        )
        for index in range(processes)
    ]
    with tempfile.TemporaryDirectory() as folder:
        async with Admitters(plans, Path(folder)) as admitters:
            said = await admitters.round(seconds + ROUND_SECONDS)
    latencies = [latency for one in said for latency in one["latencies"]]
    outcomes: Counter[str] = Counter()
    for one in said:
        outcomes.update(one["outcomes"])
    return Latency(rate, seconds, latencies, outcomes)


# -- 3. recovery, and 4. Discord requests per second --------------------------------------


@dataclass
class Recovery:
    jobs: int
    at_kill: dict[str, int]  # ledger states when A was killed
    killed_after: float  # seconds from the start of the injection
    claimed_after: float | None  # seconds from the kill until B held a job
    delivered_after: float | None  # seconds from the kill until every job was delivered
    undelivered: int
    results_per_job: Counter[int]  # how many jobs got 0, 1, 2... result deliveries
    shown_per_job: Counter[int]  # how many jobs' requesters now see 0, 1, 2... images
    submits_per_prompt: Counter[int]  # how many prompts reached the API 0, 1, 2... times
    submissions: int
    billed_cents: int
    busiest_second: int  # bot-authenticated Discord requests in the busiest 1 s window
    busiest_second_all: int  # the same, counting every route
    discord_requests: int  # bot-authenticated, in all
    rate_limited: int  # 429s the fake Discord served
    routes: Counter[str] = field(default_factory=Counter)  # bot-authenticated requests


def busiest_window(times: Sequence[float], width: float = 1.0) -> int:
    """The most of `times` within any window `width` seconds long."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= width:
            first += 1
        most = max(most, last - first + 1)
    return most


def counts_against_global_limit(route: str) -> bool:
    """Interaction callbacks and webhook routes are not bot-authenticated requests."""
    return not (route.startswith("POST /interactions/") or " /webhooks/" in route)


def _ledger(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(
            "SELECT state, prediction_id, delivered_at, lease_owner FROM jobs ORDER BY id"
        )
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


async def recovery(
    url: str,
    folder: Path,
    *,
    jobs: int = JOBS,
    generation: float = GENERATION_SECONDS,
    lease_seconds: float | None = None,
    members: int = 10,
    deadline: float = 120.0,
) -> Recovery:
    """Pieces 3 and 4: two bot processes, A killed with every job in flight, B finishing."""
    processes = Processes(folder)
    try:
        async with aiohttp.ClientSession() as session:
            (_, api_url), (_, discord_line) = await asyncio.gather(
                processes.start(
                    "fake-api",
                    "tests.fakes.fake_vibedream",
                    "--generation",
                    str(generation),
                    str(generation),
                ),
                processes.start("fake-discord", "benchmarks._cluster_bot", "discord"),
            )
            control = json.loads(discord_line)["control"]
            bot = [
                "benchmarks._cluster_bot",
                "bot",
                "--discord",
                discord_line,
                "--api",
                api_url,
                "--database-url",
                url,
                "--jobs",
                str(jobs),
                "--members",
                str(members),
            ]
            if lease_seconds is not None:
                bot += ["--lease-seconds", str(lease_seconds)]
            # B first, so that both have started (and synced) before the work arrives.
            _, said = await processes.start("bot-b", *bot)
            b_owner = json.loads(said)["owner"]
            first, said = await processes.start("bot-a", *bot, "--inject")
            assert json.loads(said)["event"] == "injecting", said
            injecting = time.monotonic()

            # Kill A once every job is submitted (and generating), or when the generation of
            # the first could be over.
            rows = await asyncio.to_thread(_ledger, url)
            while not (len(rows) == jobs and all(row["prediction_id"] for row in rows)):
                if time.monotonic() - injecting > generation:
                    break
                await asyncio.sleep(0.02)
                rows = await asyncio.to_thread(_ledger, url)
            os.kill(first.pid, signal.SIGKILL)
            killed = time.monotonic()
            await first.wait()
            at_kill = Counter(
                "delivered" if row["delivered_at"] is not None else row["state"] for row in rows
            )

            claimed_after = delivered_after = None
            while time.monotonic() - killed < deadline:
                rows = await asyncio.to_thread(_ledger, url)
                if claimed_after is None and any(row["lease_owner"] == b_owner for row in rows):
                    claimed_after = time.monotonic() - killed
                if rows and all(row["delivered_at"] is not None for row in rows):
                    delivered_after = time.monotonic() - killed
                    break
                await asyncio.sleep(0.1)
            undelivered = sum(row["delivered_at"] is None for row in rows)

            stats = await api_stats(session, api_url)
            async with session.post(control, json={"method": "report", "args": []}) as response:
                discord = (await response.json())["result"]
    finally:
        await processes.stop_all()

    submits = Counter(prediction["prompt"] for prediction in stats["predictions"].values())
    prompts = [prompt_for(n) for n in range(jobs)]
    results, shown = _deliveries(discord)
    counted = [r for r in discord["requests"] if counts_against_global_limit(r["route"])]
    return Recovery(
        jobs=jobs,
        at_kill=dict(at_kill),
        killed_after=killed - injecting,
        claimed_after=claimed_after,
        delivered_after=delivered_after,
        undelivered=undelivered + max(0, jobs - len(rows)),
        results_per_job=Counter(results.get(prompt, 0) for prompt in prompts),
        shown_per_job=Counter(shown.get(prompt, 0) for prompt in prompts),
        submits_per_prompt=Counter(submits.get(prompt, 0) for prompt in prompts),
        submissions=stats["submissions"],
        billed_cents=stats["billed_cents"],
        busiest_second=busiest_window([r["time"] for r in counted]),
        busiest_second_all=busiest_window([r["time"] for r in discord["requests"]]),
        discord_requests=len(counted),
        rate_limited=discord["rate_limited"],
        routes=Counter(r["route"] for r in counted),
    )


def _deliveries(discord: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """Per prompt: how many requests that carried an image the fake Discord accepted for its
    interaction (an edit of the reply through its token, or a message in its channel: one
    channel per job), and how many images its requester is shown in the end."""
    by_token = {i["token"]: i["prompt"] for i in discord["interactions"]}
    by_channel = {str(i["channel_id"]): i["prompt"] for i in discord["interactions"]}
    results: Counter[str] = Counter()
    for request in discord["requests"]:
        if not request["files"] or not 200 <= request["status"] < 300:
            continue
        parts = request["path"].strip("/").split("/")
        prompt = None
        if parts[0] == "webhooks" and len(parts) > 2:
            prompt = by_token.get(parts[2])
        elif parts[0] == "channels" and len(parts) > 1:
            prompt = by_channel.get(parts[1])
        if prompt is not None:
            results[prompt] += 1
    shown = Counter({i["prompt"]: i["images_in_channel"] for i in discord["interactions"]})
    return results, shown


# -- the command --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """An empty database of its own on the server, dropped afterwards."""
    name = f"cluster_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
            await admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _spread(counts: Counter[int]) -> str:
    return ", ".join(f"{n}: {counts[n]} jobs" for n in sorted(counts))


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


async def report_over_spend(server: str, arguments: argparse.Namespace) -> list[str]:
    """Piece 1, printed; returns the targets it missed."""
    missed = []
    print(
        f"1. Over-spend: {arguments.rounds} rounds of {arguments.requests} requests at once for"
        f" a new server through {arguments.processes} processes"
        f" ({arguments.requests // arguments.processes} each), daily budget"
        f" {arguments.budget} cents at 1 cent each"
    )
    for lock in (True, False):
        started = time.monotonic()
        async with fresh_database(server) as url:
            spent = await over_spend(
                url,
                lock=lock,
                processes=arguments.processes,
                rounds=arguments.rounds,
                requests=arguments.requests,
                budget=arguments.budget,
            )
        over = spent.over
        met = sum(over) == 0 if lock else max(over) > 0
        indent = " " * 26
        print(
            f"   {'with the lock:' if lock else 'without it (control):':22}"
            f" over-spend per round (cents): {' '.join(map(str, over))}\n"
            f"{indent}min {min(over)}, max {max(over)}, total {sum(over)} cents;"
            f" rounds over budget {sum(1 for n in over if n)}/{arguments.rounds};"
            f" failed admissions {spent.failed}; {time.monotonic() - started:.1f} s\n"
            f"{indent}target {'0' if lock else '> 0'}: {_verdict(met)}"
        )
        if spent.admitted != spent.recorded:
            print(f"{indent}admitted per round {spent.admitted} != recorded {spent.recorded}")
            met = False
        if not met:
            missed.append(f"over-spend {'with' if lock else 'without'} the lock")
    return missed


async def report_latency(server: str, arguments: argparse.Namespace) -> list[str]:
    """Piece 2, printed; returns the targets it missed."""
    print(
        f"2. Admission latency: {arguments.rate:g} requests/s to one server from"
        f" {arguments.processes} processes ({arguments.rate / arguments.processes:g}/s each,"
        f" paced), {arguments.seconds:g} s"
    )
    async with fresh_database(server) as url:
        latency = await admission_latency(
            url, processes=arguments.processes, rate=arguments.rate, seconds=arguments.seconds
        )
    met = latency.ms(0.99) <= LATENCY_TARGET_MS and set(latency.outcomes) == {"admitted"}
    print(
        f"   {len(latency.latencies)} admissions ({dict(latency.outcomes)}):"
        f" p50 {latency.ms(0.5):.2f} ms, p99 {latency.ms(0.99):.2f} ms,"
        f" max {latency.ms(1.0):.2f} ms; target p99 <= {LATENCY_TARGET_MS:g} ms: {_verdict(met)}"
    )
    return [] if met else ["admission latency"]


async def report_recovery(server: str, arguments: argparse.Namespace) -> list[str]:
    """Pieces 3 and 4, printed; returns the targets they missed."""
    print(
        f"3. Recovery: 2 bot processes, one scope, one database; {arguments.jobs} /imagine to A"
        f" (generation {arguments.generation:g} s), A SIGKILLed with them in flight;"
        f" lease {LEASE_SECONDS:g} s, sweep every {SWEEP_SECONDS:g} s"
    )
    with tempfile.TemporaryDirectory() as folder:
        async with fresh_database(server) as url:
            recovered = await recovery(
                url, Path(folder), jobs=arguments.jobs, generation=arguments.generation
            )
    expected = LEASE_SECONDS + SWEEP_SECONDS
    delivered = recovered.delivered_after
    every_one = Counter({1: recovered.jobs})
    once = recovered.results_per_job == every_one and recovered.shown_per_job == every_one
    no_double = max(recovered.submits_per_prompt, default=0) <= 1
    in_time = delivered is not None and delivered <= expected + 5
    print(
        f"   A killed {recovered.killed_after:.2f} s after the injection began; ledger then:"
        f" {recovered.at_kill}\n"
        f"   B first held a job {_seconds(recovered.claimed_after)} after the kill, had"
        f" delivered all {recovered.jobs} {_seconds(delivered)} after it"
        f" (expected <= ~{expected:g} s): {_verdict(in_time)};"
        f" undelivered {recovered.undelivered}\n"
        f"   results accepted per job: {_spread(recovered.results_per_job)};"
        f" images each requester sees: {_spread(recovered.shown_per_job)};"
        f" exactly once: {_verdict(once)}\n"
        f"   submits per prompt: {_spread(recovered.submits_per_prompt)}"
        f" ({recovered.submissions} submissions, {recovered.billed_cents} cents billed);"
        f" none twice: {_verdict(no_double)}"
    )
    window_met = recovered.busiest_second <= WINDOW_TARGET
    print(
        "4. Discord requests in the busiest 1 s window across the processes during piece 3"
        f" (callbacks and webhooks left out): {recovered.busiest_second}"
        f" (of {recovered.discord_requests} in all; {recovered.busiest_second_all} counting"
        f" every route; {recovered.rate_limited} answered 429); target <= {WINDOW_TARGET}:"
        f" {_verdict(window_met)}\n"
        f"   by route: {dict(recovered.routes.most_common())}"
    )
    return [
        name
        for name, met in (
            ("recovery time", in_time),
            ("delivered exactly once", once),
            ("no double submit", no_double),
            ("Discord requests per second", window_met),
        )
        if not met
    ]


async def main(arguments: argparse.Namespace) -> int:
    server = arguments.database_url
    missed = await report_over_spend(server, arguments)
    missed += await report_latency(server, arguments)
    missed += await report_recovery(server, arguments)
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--rate", type=float, default=RATE)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--generation", type=float, default=GENERATION_SECONDS)
    parsed = parser.parse_args()
    if not parsed.database_url:
        parser.error("no PostgreSQL server: pass --database-url or set TEST_DATABASE_URL")
    sys.exit(asyncio.run(main(parsed)))

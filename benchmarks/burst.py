"""The headline benchmark: N /imagine commands arriving at the same instant, into the real bot
at its default settings.

Every command is built and registered with the fake Discord first, then all N are handed to
the bot in one go, as a launch-day burst would arrive. Each N gets a fresh bot in a process of
its own (whose CPU time and peak memory are the figures), with a fresh fake VibeDream API
(512×512, generation 0.6-2.5 s uniform) and a fresh fake Discord (rate limits on), each in its
own process. The bot runs at its defaults: only the token, the API key, the API's base URL
and a database in a temporary folder are set, and the run refuses to start if any other
setting differs from its default (an environment variable, say). One member per job, and one
server per 200 jobs: the default server budget is 500 cents a day at 1 cent an image, so a
thousand jobs in one server would be refused past the 500th, while a launch day at defaults
is many servers.

    python -m benchmarks.burst [--jobs 200 1000] [--deadline 120] [--profile out.prof]

With --profile the bot's process runs under cProfile from the burst to the last delivery (its
main thread; the figures of that run are inflated by the profiler), the pstats dump is
written, and the top 25 entries by cumulative and by own time are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import json
import logging
import math
import pstats
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks._harness import (
    BurstFakeDiscord,
    ErrorCounter,
    api_stats,
    cpu_seconds,
    percentile,
    sample_loop_lag,
    start_fake_api,
    stop_process,
)
from bot.app import allow_many_connections, api_session, build_bot, event_loop_factory
from bot.logs import setup_logging
from bot.settings import Settings
from bot.storage import open_storage
from tests.fakes.discord_harness import make_guild, make_user, slash, text_channel
from tests.fakes.discord_process import RemoteRecord

JOBS_PER_SERVER = 200
CHANNELS_PER_SERVER = 5
GUILD_BASE = 410_000_000_000_000_000
CHANNEL_BASE = 510_000_000_000_000_000
USER_BASE = 210_000_000_000_000_000
# The settings that point the bot at the fakes; every other one must keep its default.
POINTS_AT_FAKES = frozenset(
    {"discord_token", "vibedream_api_key", "vibedream_base_url", "database_url"}
)
RESULT_MARK = "BURST-RESULT "
HANDLER_TASK = "CommandTree-invoker"  # discord.py's name for the task running a command

# From the issue, by burst size: figure -> (comparison, bound).
TARGETS: dict[int, dict[str, tuple[str, float]]] = {
    200: {
        "e2e_minus_generation_p50_ms": ("<=", 250),
        "e2e_minus_generation_p99_ms": ("<=", 500),
        "first_response_p99_ms": ("<=", 250),
        "detection_mean_ms": ("<=", 120),
        "polls_mean": ("<=", 6),
        "polls_max": ("<=", 10),
        "cpu_ms_per_job": ("<=", 2.5),
        "loop_lag_p99_ms": ("<=", 50),
        "peak_memory_mib": ("<=", 100),
    },
    1000: {
        "e2e_minus_generation_p50_ms": ("<=", 1000),
        "e2e_minus_generation_p99_ms": ("<=", 2000),
        "first_response_p99_ms": ("<=", 800),
        "first_responses_over_3s": ("==", 0),
        "detection_mean_ms": ("<=", 200),
        "polls_mean": ("<=", 6),
        "polls_max": ("<=", 10),
        "cpu_ms_per_job": ("<=", 2.5),
        "loop_lag_p99_ms": ("<=", 150),
        "peak_memory_mib": ("<=", 150),
    },
}


@dataclass
class Burst:
    """One burst's outcome: the figures (all numbers), and what they were measured on."""

    jobs: int
    servers: int
    channels: int
    defaults: dict[str, Any]
    delivered: int  # replies that ended with the image
    failed: int  # replies that ended with a failure line
    registration_seconds: float  # registering all N with the fake, before the burst
    elapsed_seconds: float  # from the burst to the last final reply (or the deadline)
    billed_cents: int  # what the fake API charged
    ledger_cents: int  # what the bot's ledger says was charged
    figures: dict[str, float]
    fakes_busy: list[float]  # CPU share each fake (API, Discord) used during the burst
    routes_per_job: dict[str, float]  # Discord requests during the burst, by route
    statuses: dict[str, int]  # Discord answers during the burst that were not 2xx
    errors_logged: int
    error_samples: list[str] = field(default_factory=list)


class _Held:
    """Stands in for the bot while `slash` builds the interactions: it keeps each payload
    instead of delivering it, so all of them can then be delivered at one instant."""

    def __init__(self, bot: Any) -> None:
        self.payloads: dict[int, dict[str, Any]] = {}
        self._connection = SimpleNamespace(
            _command_tree=bot._connection._command_tree,
            parse_interaction_create=lambda payload: self.payloads.__setitem__(
                int(payload["id"]), payload
            ),
        )


def default_settings(**pointing_at_fakes: Any) -> Settings:
    """Settings at their defaults but for those that point at the fakes; raises if any other
    setting was changed (by the environment, say), since the figures would not be the
    defaults' figures."""
    assert set(pointing_at_fakes) <= POINTS_AT_FAKES
    settings = Settings(**pointing_at_fakes, _env_file=None)
    changed = [
        name.upper()
        for name, info in Settings.model_fields.items()
        if name not in POINTS_AT_FAKES
        and getattr(settings, name) != info.get_default(call_default_factory=True)
    ]
    if changed:
        raise RuntimeError(f"not at defaults: {', '.join(changed)} set in the environment")
    return settings


async def run_burst(
    jobs: int,
    *,
    seed: int = 1,
    deadline: float = 120.0,
    profile: str | None = None,
    production_logging: bool = False,
) -> Burst:
    """Start the fakes and a fresh bot, deliver `jobs` /imagine commands at once, wait for
    every reply to reach its final state (at most `deadline` seconds), measure."""
    errors = ErrorCounter()
    api_process, api_url = start_fake_api(seed, 0.0)
    fake_discord = BurstFakeDiscord(rate_limits=True)
    root = logging.getLogger()
    try:
        with tempfile.TemporaryDirectory() as folder:
            fake_discord.install()
            settings = default_settings(
                discord_token=fake_discord.token,
                vibedream_api_key="test-api-key",
                vibedream_base_url=api_url,
                database_url=f"sqlite:///{Path(folder) / 'burst.db'}",
            )
            if production_logging:  # as `python -m bot` logs, so its cost is counted
                secrets = (fake_discord.token, "test-api-key")
                setup_logging(settings.log_level, secrets)
            root.addHandler(errors)
            try:
                burst = await _drive(
                    settings, fake_discord, (api_process.pid, api_url), jobs, deadline, profile
                )
            finally:
                root.removeHandler(errors)
                await fake_discord.aclose()
    finally:
        fake_discord.close()
        stop_process(api_process)
    burst.errors_logged = errors.errors
    burst.figures["database_errors"] = errors.database
    burst.error_samples = errors.samples
    return burst


async def _drive(
    settings: Settings,
    fake_discord: BurstFakeDiscord,
    api: tuple[int, str],
    jobs: int,
    deadline: float,
    profile: str | None,
) -> Burst:
    api_pid, api_url = api
    servers = math.ceil(jobs / JOBS_PER_SERVER)
    allow_many_connections()
    async with api_session() as session:  # as bot.app.run opens them
        database = await open_storage(settings.database_url, exclusive=True)
        bot = build_bot(settings, session, database)
        await bot.login(fake_discord.token)
        guild_ids = [GUILD_BASE + g for g in range(servers)]
        channel_ids = {
            guild_id: [CHANNEL_BASE + g * 100 + c for c in range(CHANNELS_PER_SERVER)]
            for g, guild_id in enumerate(guild_ids)
        }
        for g, guild_id in enumerate(guild_ids):
            channels = [
                text_channel(f"s{g}c{n}", channel_id=c) for n, c in enumerate(channel_ids[guild_id])
            ]
            make_guild(bot, fake_discord, guild_id=guild_id, name=f"Server {g}", channels=channels)  # type: ignore[arg-type]

        # Build and register every command first; none reaches the bot yet.
        held = _Held(bot)

        async def command(n: int) -> RemoteRecord:
            guild_id = guild_ids[n % servers]
            return await slash(  # type: ignore[return-value]
                held,  # type: ignore[arg-type]
                fake_discord,  # type: ignore[arg-type]
                "imagine",
                {"prompt": f"burst {n}", "size": "512*512"},
                user=make_user(f"member{n}", user_id=USER_BASE + n),
                guild_id=guild_id,
                channel_id=channel_ids[guild_id][(n // servers) % CHANNELS_PER_SERVER],
            )

        registering = time.monotonic()
        records = list(await asyncio.gather(*(command(n) for n in range(jobs))))
        registration = time.monotonic() - registering
        payloads = [held.payloads[record.id] for record in records]
        ids = [record.id for record in records]

        lags: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_loop_lag(lags, stop))
        await asyncio.sleep(0.05)  # the sampler is running, the loop is idle
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        await fake_discord.start_clocks()  # the 3 s windows run from the burst, as on Discord
        cpu_started = time.process_time()
        fakes_started = cpu_seconds(api_pid), cpu_seconds(fake_discord.pid)
        burst_at = time.monotonic()
        parse = bot._connection.parse_interaction_create
        for payload in payloads:
            parse(payload)  # type: ignore[arg-type]
        finished = 0
        while finished < jobs and time.monotonic() - burst_at < deadline:
            await asyncio.sleep(0.2)
            finished = await fake_discord.call("finished", ids)
            if not any(task.get_name() == HANDLER_TASK for task in asyncio.all_tasks()):
                break  # every command's handler has ended: nothing more will arrive
        cpu = time.process_time() - cpu_started
        elapsed = time.monotonic() - burst_at
        fakes_busy = [
            (cpu_seconds(pid) - started) / elapsed
            for pid, started in zip((api_pid, fake_discord.pid), fakes_started, strict=True)
        ]
        if profiler is not None:
            profiler.disable()
            assert profile is not None  # a profiler runs only when given a path
            profiler.dump_stats(profile)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stop.set()
        await sampler

        await bot.shutdown(grace_seconds=settings.shutdown_grace_seconds)
        stats = await api_stats(session, api_url)
        exported = await fake_discord.call("export")
        finished = await fake_discord.call("finished", ids)
        ledger_cents = await database.total_charged_cents()
        await database.close()

    defaults = {
        name.upper(): getattr(settings, name)
        for name in (
            "generation_concurrency",
            "default_user_max_concurrent",
            "default_user_daily_images",
            "default_guild_daily_budget_cents",
            "log_level",
        )
    }
    return _measure(
        jobs=jobs,
        servers=servers,
        defaults=defaults,
        records=records,
        burst_at=burst_at,
        elapsed=elapsed,
        registration=registration,
        cpu=cpu,
        fakes_busy=fakes_busy,
        peak_mib=peak_kib / 1024,
        lags=lags,
        stats=stats,
        exported=exported,
        finished=finished,
        ledger_cents=ledger_cents,
    )


def _measure(
    *,
    jobs: int,
    servers: int,
    defaults: dict[str, Any],
    records: list[RemoteRecord],
    burst_at: float,
    elapsed: float,
    registration: float,
    cpu: float,
    fakes_busy: list[float],
    peak_mib: float,
    lags: list[float],
    stats: dict[str, Any],
    exported: dict[str, Any],
    finished: int,
    ledger_cents: int,
) -> Burst:
    """The figures, from the bot's clock (the burst instant) and the fakes' records. All three
    processes read the same monotonic clock (CLOCK_MONOTONIC), so their times compare."""
    interactions = exported["interactions"]
    first = [
        (responded - burst_at) * 1000
        for record in records
        if (responded := interactions[str(record.id)]["first_response_at"]) is not None
    ]
    unanswered = jobs - len(first)

    predictions = list(stats["predictions"].values())
    by_prompt = {p["prompt"]: p for p in predictions}
    detection = [
        (p["observed_at"] - p["completes_at"]) * 1000
        for p in predictions
        if p["observed_at"] is not None
    ]
    polls = [float(p["polls"]) for p in predictions]

    edits = Counter(edit["token"] for edit in exported["edits"])
    per_job_edits = [float(edits[record.token]) for record in records]
    finals: dict[str, float] = {}
    for edit in exported["edits"]:
        if edit["files"]:
            finals.setdefault(edit["token"], edit["time"])
    added = []
    for n, record in enumerate(records):
        prediction = by_prompt.get(f"burst {n}")
        if prediction and record.token in finals:
            generation = prediction["completes_at"] - prediction["created"]
            added.append((finals[record.token] - burst_at - generation) * 1000)
    delivered = sum(record.token in finals for record in records)

    during = [
        (route, status) for route, moment, status in exported["requests"] if moment >= burst_at
    ]
    routes = Counter(route for route, _ in during)
    statuses = Counter(f"{status} {route}" for route, status in during if not 200 <= status < 300)

    def figure(compute: Callable[[list[float]], float], values: list[float]) -> float:
        return compute(values) if values else math.nan

    figures = {
        "first_response_p50_ms": figure(lambda v: percentile(v, 0.5), first),
        "first_response_p99_ms": figure(lambda v: percentile(v, 0.99), first),
        "first_responses_over_3s": float(sum(t > 3000 for t in first) + unanswered),
        "detection_mean_ms": figure(statistics.fmean, detection),
        "detection_p99_ms": figure(lambda v: percentile(v, 0.99), detection),
        "polls_mean": figure(statistics.fmean, polls),
        "polls_max": figure(max, polls),
        "e2e_minus_generation_p50_ms": figure(lambda v: percentile(v, 0.5), added),
        "e2e_minus_generation_p99_ms": figure(lambda v: percentile(v, 0.99), added),
        "edits_per_job_mean": figure(statistics.fmean, per_job_edits),
        "edits_per_job_max": figure(max, per_job_edits),
        "discord_requests_per_job": sum(routes.values()) / jobs,
        "cpu_ms_per_job": cpu * 1000 / jobs,
        "loop_lag_p99_ms": figure(lambda v: percentile(v, 0.99) * 1000, lags),
        "loop_lag_max_ms": figure(lambda v: max(v) * 1000, lags),
        "peak_memory_mib": peak_mib,
        "discord_429s": float(exported["rate_limited"]),
    }
    return Burst(
        jobs=jobs,
        servers=servers,
        channels=servers * CHANNELS_PER_SERVER,
        defaults=defaults,
        delivered=delivered,
        failed=finished - delivered,  # final state is an image or a failure line
        registration_seconds=registration,
        elapsed_seconds=max(finals.values(), default=burst_at + elapsed) - burst_at,
        billed_cents=int(stats["billed_cents"]),
        ledger_cents=ledger_cents,
        figures=figures,
        fakes_busy=fakes_busy,
        routes_per_job={route: count / jobs for route, count in sorted(routes.items())},
        statuses=dict(statuses),
        errors_logged=0,
    )


# -- one burst per child process, reported by the parent ---------------------------------


def run_child(jobs: int, arguments: argparse.Namespace) -> Burst | None:
    """Run one burst in a fresh process; its log goes to `log`, its result comes back as
    JSON. Stopped by its PID (SIGINT, then SIGKILL) if it outlives its deadline."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.burst",
        "--child",
        str(jobs),
        "--seed",
        str(arguments.seed),
        "--deadline",
        str(arguments.deadline),
    ]
    if arguments.profile:
        command += ["--profile", profile_path(arguments, jobs)]
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            output, _ = child.communicate(timeout=arguments.deadline + 120)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)  # its finally blocks stop the fakes
            try:
                output, _ = child.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                output, _ = child.communicate()
        log.seek(0)
        lines = log.read().splitlines()
    results = [line for line in output.splitlines() if line.startswith(RESULT_MARK)]
    summarise_log(lines)
    if child.returncode != 0 or not results:
        print(f"the {jobs}-job burst failed (exit {child.returncode}); its log ends:")
        for line in lines[-15:]:
            print("  ", line)
        return None
    return Burst(**json.loads(results[-1].removeprefix(RESULT_MARK)))


def summarise_log(lines: list[str]) -> None:
    """How many warnings and errors the bot logged, and the commonest kinds."""
    serious = [line for line in lines if " WARNING " in line or " ERROR " in line]
    if not serious:
        return
    kinds = Counter(re.sub(r"\d+", "N", line.split(": ", 1)[-1])[:110] for line in serious)
    print(f"  bot log: {len(serious)} warning/error lines; commonest:")
    for kind, count in kinds.most_common(3):
        print(f"    {count:5} x {kind}")


def profile_path(arguments: argparse.Namespace, jobs: int) -> str:
    if len(arguments.jobs) == 1:
        single: str = arguments.profile
        return single
    path = Path(arguments.profile)
    return str(path.with_name(f"{path.stem}.{jobs}{path.suffix}"))


LABELS = {
    "first_response_p50_ms": ("first response p50", "ms"),
    "first_response_p99_ms": ("first response p99", "ms"),
    "first_responses_over_3s": ("first responses over 3 s", ""),
    "detection_mean_ms": ("detection delay mean", "ms"),
    "detection_p99_ms": ("detection delay p99", "ms"),
    "polls_mean": ("polls per job mean", ""),
    "polls_max": ("polls per job max", ""),
    "e2e_minus_generation_p50_ms": ("e2e minus generation p50", "ms"),
    "e2e_minus_generation_p99_ms": ("e2e minus generation p99", "ms"),
    "edits_per_job_mean": ("edits per job mean", ""),
    "edits_per_job_max": ("edits per job max", ""),
    "discord_requests_per_job": ("Discord requests per job", ""),
    "cpu_ms_per_job": ("bot CPU per job", "ms"),
    "loop_lag_p99_ms": ("event-loop lag p99", "ms"),
    "loop_lag_max_ms": ("event-loop lag max", "ms"),
    "peak_memory_mib": ("peak memory (RSS)", "MiB"),
    "discord_429s": ("429s from Discord", ""),
    "database_errors": ("database errors logged", ""),
}


def report(burst: Burst, profiled: bool) -> None:
    defaults = ", ".join(f"{name}={value}" for name, value in burst.defaults.items())
    servers = f"{burst.servers} server" + ("s" if burst.servers > 1 else "")
    print(
        f"\n{burst.jobs} /imagine at the same instant, from {burst.jobs} members (one job each)"
        f" in {servers}, {burst.channels} channels: {JOBS_PER_SERVER} jobs a server, since a"
        f" server's default budget (500 cents a day) covers 500 images and a launch day at"
        f" defaults is many servers"
    )
    print(
        f"512×512, generation 0.6-2.5 s uniform; the bot at its default settings ({defaults});"
        f" commands registered with the fake Discord beforehand ({burst.registration_seconds:.2f}"
        f" s), their 3 s answer windows started at the burst"
    )
    print(
        f"delivered with an image: {burst.delivered}/{burst.jobs}, failed: {burst.failed},"
        f" unfinished: {burst.jobs - burst.delivered - burst.failed};"
        f" last reply {burst.elapsed_seconds:.1f} s after the burst"
        + ("  [under cProfile: times and CPU inflated]" if profiled else "")
    )
    targets = TARGETS.get(burst.jobs, {})
    print(f"{'figure':28} {'measured':>14} {'target':>12}")
    for key, (label, unit) in LABELS.items():
        value = burst.figures[key]
        shown = f"{value:.1f} {unit}".strip() if unit or value != int(value) else f"{value:.0f}"
        if key.endswith("_mean") or key == "discord_requests_per_job":
            shown = f"{value:.2f}"
        target, verdict = "", ""
        if key in targets:
            comparison, bound = targets[key]
            target = f"{'≤' if comparison == '<=' else '='} {bound:g} {unit}".strip()
            met = value <= bound if comparison == "<=" else value == bound
            verdict = "ok" if met else "MISSED"
        print(f"{label:28} {shown:>14} {target:>12}  {verdict}")
    print("Discord requests per job during the burst, by route:")
    for route, count in burst.routes_per_job.items():
        print(f"  {count:6.2f}  {route}")
    for answer, count in sorted(burst.statuses.items()):
        print(f"  answered {answer}: {count}")
    api_busy, discord_busy = burst.fakes_busy
    print(
        f"the fakes' CPU use during the burst (100% = one core saturated): API {api_busy:.0%},"
        f" Discord {discord_busy:.0%}"
    )
    print(
        f"billed by the API: {burst.billed_cents} cents; in the bot's ledger:"
        f" {burst.ledger_cents} cents; errors logged: {burst.errors_logged}"
    )
    for sample in burst.error_samples:
        print("  error:", sample)


def print_profile(path: str) -> None:
    for order in ("cumulative", "tottime"):
        print(f"\n--- cProfile of the bot's process, top 25 by {order} ({path}) ---")
        stats = pstats.Stats(path, stream=sys.stdout)
        stats.strip_dirs().sort_stats(order).print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=120.0, metavar="SECONDS")
    parser.add_argument(
        "--profile", metavar="PATH", help="write a pstats dump of the bot's process"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child is not None:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:  # as bot runs
            burst = runner.run(
                run_burst(
                    arguments.child,
                    seed=arguments.seed,
                    deadline=arguments.deadline,
                    profile=arguments.profile,
                    production_logging=True,
                )
            )
        print(RESULT_MARK + json.dumps(dataclasses.asdict(burst)), flush=True)
        return
    for jobs in arguments.jobs:
        outcome = run_child(jobs, arguments)
        if outcome is not None:
            report(outcome, profiled=bool(arguments.profile))
        if arguments.profile and outcome is not None:
            print_profile(profile_path(arguments, jobs))


if __name__ == "__main__":
    main()

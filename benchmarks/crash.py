"""The crash suite at full size: SIGKILL the real bot mid-work, restart it, count the money.

Each trial sends N /imagine commands at once to a bot process, kills it with SIGKILL at a
seeded moment (every other trial anywhere within the first `--window` seconds, the others while
the first billed submit is unanswered: "killed after" counts from the start of the injection),
lets a second process recover, and holds the ledger against the fake API's billing (see
tests/crash_bot.py). `--without-write-ahead` runs the control: the same trials with the
write-ahead disabled in the bot process.

    python -m benchmarks.crash [--trials 10] [--jobs 50] [--members 10] [--seed 1]
                               [--window 1.5] [--without-write-ahead]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.crash_bot import SUBMIT_LATENCY, Trial, run_trials

COLUMNS = (
    ("trial", 5),
    ("jobs", 4),
    ("admitted", 8),
    ("aimed at", 9),
    ("killed after", 12),
    ("at the kill: reserved/submitting/submitted/done", 47),
    ("billed unrecorded", 17),
    ("provider billed", 15),
    ("ledger", 6),
    ("under-count", 11),
    ("told free though billed", 23),
    ("double submits", 14),
    ("recovered in", 12),
)


def cells(trial: Trial) -> list[str]:
    phases = trial.at_kill
    done = phases.get("completed", 0) + phases.get("failed", 0) + phases.get("delivered", 0)
    at_kill = "/".join(
        str(n)
        for n in (
            phases.get("reserved", 0),
            phases.get("submitting", 0),
            phases.get("submitted", 0),
            done + phases.get("released", 0),
        )
    )
    return [
        str(trial.number),
        str(trial.jobs),
        str(trial.admitted),
        trial.aim,
        f"{trial.killed_after_ms:.0f} ms",
        at_kill,
        str(trial.billed_unrecorded_at_kill),
        f"{trial.billed_cents} c",
        f"{trial.ledger_cents} c",
        f"{trial.under_count} c",
        str(trial.told_free_though_billed),
        str(trial.double_submits),
        f"{trial.recovery_seconds:.1f} s",
    ]


def print_row(values: list[str]) -> None:
    print("  ".join(value.rjust(width) for value, (_, width) in zip(values, COLUMNS, strict=True)))


async def main(arguments: argparse.Namespace) -> None:
    write_ahead = not arguments.without_write_ahead
    print(
        f"{arguments.trials} trials of {arguments.jobs} /imagine from {arguments.members} members;"
        f" submit latency {SUBMIT_LATENCY * 1000:.0f} ms, generation 0.6-2.5 s; SIGKILL within"
        f" {arguments.window:g} s; write-ahead {'on' if write_ahead else 'OFF (the control)'}"
    )
    print_row([name for name, _ in COLUMNS])
    with tempfile.TemporaryDirectory() as folder:
        trials = await run_trials(
            Path(folder),
            trials=arguments.trials,
            jobs=arguments.jobs,
            members=arguments.members,
            seed=arguments.seed,
            write_ahead=write_ahead,
            window=arguments.window,
            on_trial=lambda trial: print_row(cells(trial)),
        )
    under = [trial for trial in trials if trial.under_count]
    print(
        f"under-counted in {len(under)} of {len(trials)} trials"
        f" (by {', '.join(f'{t.under_count}' for t in under) or 'nothing'} cents);"
        f" billed jobs told nothing was charged: {sum(t.told_free_though_billed for t in trials)};"
        f" double submits: {sum(t.double_submits for t in trials)};"
        f" undelivered: {sum(t.undelivered for t in trials)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--window", type=float, default=1.5, metavar="SECONDS")
    parser.add_argument("--without-write-ahead", action="store_true")
    asyncio.run(main(parser.parse_args()))

"""The fault suite at full size, with its account printed.

python -m benchmarks.faults [--jobs 500] [--fault-rate 0.1] [--seed 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.fault_suite import run_fault_suite


async def main(jobs: int, fault_rate: float, seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        report = await run_fault_suite(Path(folder), jobs=jobs, fault_rate=fault_rate, seed=seed)
    injected = sum(report.api_faults.values())
    print(f"jobs                      {report.jobs}")
    print(f"API faults injected       {injected}: {dict(sorted(report.api_faults.items()))}")
    print(f"uploads failed (502)      {report.upload_failures}")
    print(f"429s from Discord         {report.discord_429s}")
    print(f"final states              {report.final_states}")
    print(f"seen by their requester   {report.visible_to_requester} of {report.jobs}")
    print(f"most predictions per job  {report.predictions_per_job_max}")
    print(f"ledger / billed           {report.ledger_cents} / {report.billed_cents} cents")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.fault_rate, arguments.seed))

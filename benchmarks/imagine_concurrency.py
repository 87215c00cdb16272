"""Many /imagine commands at once through the real bot, against the local fakes.

Prints the time from an interaction arriving to the bot's first response (median, worst) and
the number of edits of each reply, progress and final.

    python -m benchmarks.imagine_concurrency [--commands 50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fakes.fake_vibedream import FakeVibeDream
from tests.world import running_world


async def main(commands: int, seed: int) -> None:
    spread = random.Random(seed)

    def generation_time(_body: dict[str, Any]) -> float:
        return spread.uniform(0.6, 2.5)

    fake_api = FakeVibeDream(generation_time=generation_time, estimated_time="1-3s")
    with tempfile.TemporaryDirectory() as folder:
        async with running_world(Path(folder), fake_api=fake_api) as world:
            started = time.monotonic()
            records = await asyncio.gather(
                *(world.imagine(prompt=f"benchmark {n}") for n in range(commands))
            )
            await asyncio.gather(*(world.settled(record, within=60) for record in records))
            elapsed = time.monotonic() - started
            edits = Counter(
                request.path.split("/")[3]  # the interaction token
                for request in world.discord.requests
                if request.route.endswith("/messages/@original") and request.method == "PATCH"
            )

    delays = sorted(record.response_delay * 1000 for record in records if record.response_delay)
    per_job = [edits[record.token] for record in records]
    print(
        f"{commands} concurrent /imagine commands, generation 0.6-2.5 s, all done in {elapsed:.1f}s"
    )
    print(f"first response: median {statistics.median(delays):.1f} ms, worst {delays[-1]:.1f} ms")
    print(
        f"edits per job (progress + final): mean {statistics.fmean(per_job):.1f},"
        f" min {min(per_job)}, max {max(per_job)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.commands, arguments.seed))

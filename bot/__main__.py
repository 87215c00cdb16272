"""Entry point: `python -m bot` runs the bot; `python -m bot sync` registers its commands
with Discord now, whether or not they changed, and exits.

Exit codes: 0 after a clean shutdown, 2 when the settings are missing or invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from pydantic import ValidationError

from bot.app import event_loop_factory, run
from bot.logs import setup_logging
from bot.settings import Settings, describe_errors

EXIT_BAD_SETTINGS = 2


def load_settings() -> Settings | None:
    try:
        return Settings()  # filled from the environment
    except ValidationError as error:
        print("The bot cannot start: some settings are missing or invalid.", file=sys.stderr)
        for line in describe_errors(error):
            print(f"  {line}", file=sys.stderr)
        print("Set them in the environment or in .env; see .env.example.", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Run the imagine bot.")
    parser.add_argument(
        "command",
        nargs="?",
        choices=["run", "sync"],
        default="run",
        help="run the bot (default), or sync its slash commands with Discord and exit",
    )
    arguments = parser.parse_args(argv)
    settings = load_settings()
    if settings is None:
        return EXIT_BAD_SETTINGS
    secrets = (
        settings.discord_token.get_secret_value(),
        settings.vibedream_api_key.get_secret_value(),
    )
    setup_logging(settings.log_level, secrets)
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=event_loop_factory()) as runner,
    ):
        runner.run(run(settings, sync_only=arguments.command == "sync"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

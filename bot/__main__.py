"""Entry point: `python -m bot` runs the bot; `python -m bot sync` registers its commands
with Discord now, whether or not they changed, and exits; `python -m bot health` asks the
running bot's /healthz (on METRICS_ADDRESS) and exits 0 if it is healthy, 1 if not.

Exit codes (bot.startup.Exit): 0 after a clean shutdown, 1 for a bug (with its traceback),
2 when the settings are missing or invalid, 3 when Discord refuses the token, 4 when Discord
cannot be reached, 5 when the database cannot be used, 130 after Ctrl-C before the bot had
logged in. Each start-up failure ends in one sentence naming its cause and its fix.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from bot.app import event_loop_factory, run
from bot.logs import setup_logging
from bot.metrics import check_health
from bot.settings import Settings, describe_errors
from bot.startup import INTERRUPTED, Exit, StartupFailure

EXIT_BAD_SETTINGS = Exit.BAD_SETTINGS
EXIT_UNHEALTHY = 1  # what a container's health check takes for "unhealthy"


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
        choices=["run", "sync", "health"],
        default="run",
        help="run the bot (default), sync its slash commands with Discord and exit, or "
        "check the running bot's health",
    )
    arguments = parser.parse_args(argv)
    settings = load_settings()
    if arguments.command == "health":
        return health(settings)
    if settings is None:
        return EXIT_BAD_SETTINGS
    secrets = (
        settings.discord_token.get_secret_value(),
        settings.vibedream_api_key.get_secret_value(),
    )
    setup_logging(settings.log_level, secrets)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(run(settings, sync_only=arguments.command == "sync"))
    except StartupFailure as failure:
        print(failure.sentence, file=sys.stderr)
        return failure.exit_code
    except KeyboardInterrupt:  # before the bot logged in; after, Ctrl-C stops it gracefully
        print(INTERRUPTED, file=sys.stderr)
        return Exit.INTERRUPTED
    return Exit.STOPPED


def health(settings: Settings | None) -> int:
    """0 if the running bot's /healthz says it is healthy; 1 (never 2, which a container
    health check reserves) otherwise."""
    if settings is None:
        return EXIT_UNHEALTHY
    endpoint = settings.metrics_endpoint
    if endpoint is None:
        print(
            "METRICS_ADDRESS is not set, so the bot serves no health check: set it (for "
            "example to 127.0.0.1:9108) for the bot and for this command.",
            file=sys.stderr,
        )
        return EXIT_UNHEALTHY
    healthy, line = check_health(*endpoint)
    print(line)
    return 0 if healthy else EXIT_UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())

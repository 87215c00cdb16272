"""Entry point: `python -m bot` runs the bot.

Exit codes: 0 after a clean shutdown, 2 when the settings are missing or invalid.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from pydantic import ValidationError

from bot.app import run
from bot.logs import setup_logging
from bot.settings import Settings, describe_errors

EXIT_BAD_SETTINGS = 2


def load_settings() -> Settings | None:
    try:
        return Settings()  # type: ignore[call-arg]  # filled from the environment
    except ValidationError as error:
        print("The bot cannot start: some settings are missing or invalid.", file=sys.stderr)
        for line in describe_errors(error):
            print(f"  {line}", file=sys.stderr)
        print("Set them in the environment or in .env; see .env.example.", file=sys.stderr)
        return None


def main() -> int:
    settings = load_settings()
    if settings is None:
        return EXIT_BAD_SETTINGS
    secrets = (
        settings.discord_token.get_secret_value(),
        settings.vibedream_api_key.get_secret_value(),
    )
    setup_logging(settings.log_level, secrets)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

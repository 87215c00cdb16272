"""The steps of a start that can fail for reasons outside the bot, each with a deadline, and
what an operator is told when one does: a sentence naming the cause and the fix, and an exit
code of its own (the README's "If it does not start" lists them).

Failures after the start (a dropped gateway, Discord down for a while) are discord.py's to
reconnect from; nothing here applies to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from enum import IntEnum
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.core.ports import StorageUnavailable

log = logging.getLogger(__name__)


class Exit(IntEnum):
    """The process's exit status."""

    STOPPED = 0  # a clean shutdown, or a finished `sync`
    BUG = 1  # an unexpected error: its traceback says where
    BAD_SETTINGS = 2
    TOKEN_REFUSED = 3
    DISCORD_UNREACHABLE = 4
    DATABASE_UNUSABLE = 5
    INTERRUPTED = 130  # Ctrl-C before the bot had logged in (128 + SIGINT)


class StartupFailure(Exception):
    """The bot cannot start; `sentence` says why and what to do, for the operator."""

    def __init__(self, exit_code: Exit, sentence: str) -> None:
        super().__init__(sentence)
        self.exit_code = exit_code
        self.sentence = sentence


# Deadlines for each step, in seconds.
STORAGE_SECONDS = 30.0  # opening the database and bringing its schema up to date
LOGIN_ATTEMPT_SECONDS = 30.0  # one login: the token check, the application, setup_hook
LOGIN_SECONDS = 60.0  # every login attempt and the waits between them
READY_SECONDS = 120.0  # from connecting to the gateway to its first READY
# Logging in, and reaching the gateway, are tried again when the network fails: up to
# LOGIN_ATTEMPTS times, waiting 1, 2, 4, then 8 s in between (15 s in all).
LOGIN_ATTEMPTS = 5
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 8.0

# DISCORD_TOKEN as .env.example ships it.
PLACEHOLDER_TOKEN = "your-discord-bot-token"

# Failures that mean Discord could not be reached, or was down, rather than that it refused
# us. TimeoutError and aiohttp's connection errors are OSErrors; DNS failures among them.
_NETWORK_FAILURES = (
    OSError,
    aiohttp.ClientError,
    discord.DiscordServerError,
    discord.GatewayNotFound,
)

TOKEN_REFUSED = (
    "Discord refused the bot's token. Copy a new one from the developer portal "
    "(your application -> Bot -> Reset Token) into DISCORD_TOKEN, then start the bot again."
)
TOKEN_PLACEHOLDER = (
    "DISCORD_TOKEN is still the example value from .env.example. Put your bot's token from "
    "the developer portal (your application -> Bot -> Reset Token) in it."
)
INTERRUPTED = "Stopped with Ctrl-C while starting; nothing was left running."
_CHECK_NETWORK = (
    "Check this machine's network, DNS and firewall (and DISCORD_API_BASE, if it is set), "
    "then start the bot again."
)


def check_token(token: str) -> None:
    if token.strip() == PLACEHOLDER_TOKEN:
        raise StartupFailure(Exit.TOKEN_REFUSED, TOKEN_PLACEHOLDER)


def retry_delays() -> Iterator[float]:
    delay = FIRST_RETRY_SECONDS
    while True:
        yield delay
        delay = min(delay * 2, LONGEST_RETRY_SECONDS)


def _reason(error: BaseException) -> str:
    """What went wrong, on one line."""
    if isinstance(error, TimeoutError) and not str(error):
        return "no answer in time"
    return " ".join(str(error).split()) or type(error).__name__


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else f"{text}."


# -- the database ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def opening_database(url: str, seconds: float = STORAGE_SECONDS) -> AsyncIterator[None]:
    """Bound a step that opens or first uses the database, and turn its failures into a
    StartupFailure. The message never repeats the URL, which may hold a password."""
    postgres = url.startswith(("postgresql://", "postgres://"))
    fix = (
        "Check that PostgreSQL is running and reachable, and the host, port, user, password "
        "and database name in DATABASE_URL."
        if postgres
        else "Point DATABASE_URL at a file in a folder this user can write (a relative "
        "path starts from the working directory)."
    )
    try:
        async with asyncio.timeout(seconds) as deadline:
            yield
    except TimeoutError:
        if not deadline.expired():
            raise
        raise StartupFailure(
            Exit.DATABASE_UNUSABLE, f"The database did not open within {seconds:g} s. {fix}"
        ) from None
    except (StorageUnavailable, OSError, sqlite3.Error) as error:
        reason = _reason(error)
        if "SQLite serves one process" in reason:  # SqliteFileInUse says what to do itself
            fix = ""
        sentence = f"{_sentence(f'The database cannot be used: {reason}')} {fix}".rstrip()
        raise StartupFailure(Exit.DATABASE_UNUSABLE, sentence) from None


# -- logging in ----------------------------------------------------------------------------


async def log_in(
    bot: commands.AutoShardedBot,
    token: str,
    *,
    attempts: int = LOGIN_ATTEMPTS,
    attempt_seconds: float = LOGIN_ATTEMPT_SECONDS,
    seconds: float = LOGIN_SECONDS,
) -> None:
    """Log in (which runs the bot's setup_hook), trying again while Discord cannot be
    reached. Raises StartupFailure when Discord refuses the token or stays out of reach."""
    check_token(token)
    delays = retry_delays()
    try:
        async with asyncio.timeout(seconds) as deadline:
            for attempt in range(1, attempts + 1):
                try:
                    async with asyncio.timeout(attempt_seconds):
                        await bot.login(token)
                    return
                except discord.LoginFailure:
                    raise StartupFailure(Exit.TOKEN_REFUSED, TOKEN_REFUSED) from None
                except _NETWORK_FAILURES as error:
                    # Past the token check and the application, the failure came from
                    # setup_hook, which must not run twice.
                    if attempt == attempts or bot.application is not None:
                        raise _unreachable(error, attempt) from None
                    delay = next(delays)
                    log.warning(
                        "Cannot reach Discord (%s); trying again in %g s (attempt %d of %d)",
                        _reason(error),
                        delay,
                        attempt,
                        attempts,
                    )
                    await _forget_session(bot)
                    await asyncio.sleep(delay)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise StartupFailure(
            Exit.DISCORD_UNREACHABLE,
            f"Discord did not let the bot log in within {seconds:g} s. {_CHECK_NETWORK}",
        ) from None
    except discord.HTTPException as error:  # neither a refused token nor an outage
        raise _refused(error) from None


def _unreachable(error: BaseException, attempts: int) -> StartupFailure:
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return StartupFailure(
        Exit.DISCORD_UNREACHABLE,
        f"Discord could not be reached{tries} ({_reason(error)}). {_CHECK_NETWORK}",
    )


def _refused(error: discord.HTTPException) -> StartupFailure:
    if error.status == 401:
        return StartupFailure(Exit.TOKEN_REFUSED, TOKEN_REFUSED)
    if error.status == 403:
        fix = (
            "Check that the bot is in every server DISCORD_GUILD_IDS lists, invited with the "
            "applications.commands scope."
        )
    elif error.status == 429:
        fix = "Discord is rate limiting this machine: wait an hour before starting again."
    else:
        fix = "Start the bot again in a few minutes."
    return StartupFailure(
        Exit.DISCORD_UNREACHABLE,
        f"Discord answered HTTP {error.status} while the bot was starting "
        f"({_reason(error)}). {fix}",
    )


async def _forget_session(bot: commands.AutoShardedBot) -> None:
    """Close the HTTP session a failed login opened; the next attempt opens its own (and,
    since closing the session closes its connector, a new connector too)."""
    await bot.http.close()
    bot.http.connector = discord.utils.MISSING


# -- the gateway ---------------------------------------------------------------------------


async def connect(
    bot: commands.AutoShardedBot,
    stopped: asyncio.Event,
    *,
    ready_seconds: float = READY_SECONDS,
) -> None:
    """Connect to the gateway and stay connected until the bot is closed, or `stopped` is set
    (a graceful shutdown has ended). The first READY must come within `ready_seconds`;
    network failures before it are tried again within that time."""
    ready: asyncio.Future[Any] = asyncio.ensure_future(bot.wait_for("shard_connect"))  # READY
    stop: asyncio.Future[Any] = asyncio.ensure_future(stopped.wait())
    connection: asyncio.Future[Any] | None = None
    delays = retry_delays()
    last_error = ""
    try:
        try:
            with _one_line_tracebacks("discord.shard", "discord.client"):
                async with asyncio.timeout(ready_seconds) as deadline:
                    while not ready.done():
                        connection = asyncio.ensure_future(bot.connect())
                        await asyncio.wait(
                            {ready, stop, connection}, return_when=asyncio.FIRST_COMPLETED
                        )
                        if stop.done() or ready.done():
                            break
                        error = connection.exception()
                        if error is None:
                            return  # closed before it was ready: a shutdown
                        if bot.is_closed() or not isinstance(error, _NETWORK_FAILURES):
                            raise _gateway_failure(error)
                        last_error = f" (last error: {_reason(error)})"
                        delay = next(delays)
                        log.warning(
                            "Cannot reach Discord's gateway (%s); trying again in %g s",
                            _reason(error),
                            delay,
                        )
                        await asyncio.sleep(delay)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise StartupFailure(
                Exit.DISCORD_UNREACHABLE,
                f"Discord's gateway did not say READY within {ready_seconds:g} s of "
                f"connecting{last_error}. Check that this machine can open WebSocket "
                "connections to gateway.discord.gg on port 443 (a proxy or firewall may be "
                "holding them), then start the bot again.",
            ) from None
        if connection is None or stop.done():
            return
        await asyncio.wait({stop, connection}, return_when=asyncio.FIRST_COMPLETED)
        if connection.done():
            connection.result()  # an error after the start is raised as it is
    finally:
        for task in (ready, stop, connection):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(
            *(task for task in (ready, stop, connection) if task is not None),
            return_exceptions=True,
        )


def _gateway_failure(error: BaseException) -> StartupFailure | BaseException:
    if isinstance(error, discord.ConnectionClosed):
        if error.code == 4004:  # authentication failed
            return StartupFailure(Exit.TOKEN_REFUSED, TOKEN_REFUSED)
        return StartupFailure(
            Exit.DISCORD_UNREACHABLE,
            f"Discord closed the gateway connection with code {error.code} "
            f"({error.reason or 'no reason given'}). Check DISCORD_SHARD_COUNT and "
            "DISCORD_SHARD_IDS, then start the bot again.",
        )
    if isinstance(error, discord.LoginFailure):
        return StartupFailure(Exit.TOKEN_REFUSED, TOKEN_REFUSED)
    if isinstance(error, discord.HTTPException):
        return _refused(error)
    if isinstance(error, _NETWORK_FAILURES):
        return _unreachable(error, 1)
    return error  # not a start-up failure but a bug: raised with its traceback


class _OneLineTracebacks(logging.Filter):
    """Fold a record's traceback into one line: discord.py logs each failed connection
    attempt with its traceback, which says nothing to an operator the message does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {_reason(error)})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


@contextlib.contextmanager
def _one_line_tracebacks(*names: str) -> Iterator[None]:
    fold = _OneLineTracebacks()
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addFilter(fold)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(fold)

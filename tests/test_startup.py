"""A start that cannot succeed ends, within a bound, in one sentence naming its cause and its
fix, with the exit code the README lists for it; a start that succeeds answers its health
check and stops cleanly. Each runs the real `python -m bot` against local stand-ins, but for
the gateway that never answers, whose deadline is tested in-process with a shorter one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord
import discord.http
import pytest
from aiohttp import web
from discord.ext import commands

from bot.app import run
from bot.settings import Settings
from bot.startup import (
    INTERRUPTED,
    PLACEHOLDER_TOKEN,
    TOKEN_PLACEHOLDER,
    TOKEN_REFUSED,
    Exit,
    StartupFailure,
    log_in,
)
from bot.storage import open_storage
from tests.fakes.fake_discord import API_PREFIX, FakeDiscord
from tests.test_metrics import free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Ended:
    code: int
    stderr: str
    seconds: float

    @property
    def first_line(self) -> str:
        return self.stderr.splitlines()[0] if self.stderr else ""


def bot_env(**env: str) -> dict[str, str]:
    """A clean environment: only what a test sets, and ERROR logging, so that the sentence is
    the first line on stderr."""
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": "MTIz.discord-token-secret",
        "VIBEDREAM_API_KEY": "vd-secret-key",
        "LOG_LEVEL": "ERROR",
        **env,
    }


async def start_bot(env: dict[str, str], cwd: Path, *command: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *command,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def ended(process: asyncio.subprocess.Process, started: float, within: float) -> Ended:
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the bot was still running after {within:g} s") from None
    assert process.returncode is not None
    return Ended(process.returncode, stderr.decode(), time.monotonic() - started)


async def run_bot(env: dict[str, str], cwd: Path, *command: str, within: float = 60) -> Ended:
    started = time.monotonic()
    return await ended(await start_bot(env, cwd, *command), started, within)


def assert_failed(result: Ended, code: Exit, sentence: str, *, alone: bool = True) -> None:
    """Exit `code`, no traceback, and the last line on stderr `sentence`; with `alone`, the
    only line (at LOG_LEVEL=ERROR)."""
    assert result.code == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith(sentence), result.stderr
    if alone:
        assert len(lines) == 1, result.stderr


@asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word; yields its
    host:port and an event set at the first connection."""
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        accepted.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield f"{host}:{port}", accepted
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def gateway_front(fake: FakeDiscord, *, ws_url: str | None = None) -> AsyncIterator[str]:
    """Discord in front of the fake Discord: GET /gateway/bot names a WebSocket, `ws_url` or
    our own, which plays HELLO, READY and heartbeat ACKs; every other request goes to the
    fake. Yields the API root to point DISCORD_API_BASE at."""
    origin = fake.base_url.removesuffix(API_PREFIX)
    ready_sent = 0

    async def gateway_bot(request: web.Request) -> web.Response:
        url = ws_url or f"ws://{request.host}/gateway"
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        body = {"url": url, "shards": 1, "session_start_limit": limit}
        return web.Response(body=json.dumps(body), headers={"Content-Type": "application/json"})

    async def gateway(request: web.Request) -> web.WebSocketResponse:
        nonlocal ready_sent
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for message in ws:
            payload = json.loads(message.data)
            if payload["op"] == 1:
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif payload["op"] == 2:
                ready_sent += 1
                ready = {
                    "v": 10,
                    "user": fake.bot_user,
                    "guilds": [],
                    "session_id": "session",
                    "resume_gateway_url": f"ws://{request.host}/gateway",
                    "shard": payload["d"].get("shard", [0, 1]),
                    "application": {"id": str(fake.application_id), "flags": 0},
                }
                await ws.send_json({"op": 0, "t": "READY", "s": ready_sent, "d": ready})
        return ws

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        target = origin + request.rel_url.path_qs
        async with session.request(
            request.method, target, data=await request.read(), headers=headers
        ) as answer:
            body = await answer.read()
            kept = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
            return web.Response(status=answer.status, body=body, headers=kept)

    app = web.Application()
    app.router.add_get(API_PREFIX + "/gateway/bot", gateway_bot)
    app.router.add_get("/gateway", gateway)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    async with aiohttp.ClientSession() as session:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        try:
            yield f"http://{host}:{port}{API_PREFIX}"
        finally:
            await runner.cleanup()


# -- each failure, in the real process ------------------------------------------------------


async def test_a_refused_token_exits_3(tmp_path: Path) -> None:
    """Discord answers 401 to the token: exit 3 at once, saying where a new token comes from."""
    async with FakeDiscord(token="the-real-token") as fake:
        env = bot_env(DISCORD_API_BASE=fake.base_url, DISCORD_TOKEN="a.wrong.token")
        result = await run_bot(env, tmp_path)
    assert_failed(result, Exit.TOKEN_REFUSED, TOKEN_REFUSED)
    assert result.seconds < 10


async def test_the_example_token_exits_3_without_asking_discord(tmp_path: Path) -> None:
    """DISCORD_TOKEN left as .env.example has it: exit 3, and Discord is never called."""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert f"\nDISCORD_TOKEN={PLACEHOLDER_TOKEN}\n" in example
    async with silent_server() as (address, accepted):
        env = bot_env(DISCORD_API_BASE=f"http://{address}/api/v10", DISCORD_TOKEN=PLACEHOLDER_TOKEN)
        result = await run_bot(env, tmp_path)
    assert_failed(result, Exit.TOKEN_REFUSED, TOKEN_PLACEHOLDER)
    assert not accepted.is_set()


async def test_discord_out_of_reach_exits_4_after_backing_off(tmp_path: Path) -> None:
    """Nothing listens where Discord should be: five attempts 1, 2, 4 and 8 s apart, exit 4."""
    env = bot_env(DISCORD_API_BASE=f"http://127.0.0.1:{free_port()}/api/v10")
    result = await run_bot(env, tmp_path)
    assert_failed(result, Exit.DISCORD_UNREACHABLE, "Discord could not be reached after 5 attempts")
    assert "Check this machine's network" in result.first_line
    assert 15 <= result.seconds < 30


async def test_a_database_path_under_a_file_exits_5(tmp_path: Path) -> None:
    """The SQLite file's folder cannot be made (its parent is a file): exit 5, naming the path.
    (chmod cannot stand in for this: the tests may run as root.)"""
    (tmp_path / "file.txt").write_text("not a folder")
    database = tmp_path / "file.txt" / "imagine.db"
    result = await run_bot(bot_env(DATABASE_URL=f"sqlite:///{database}"), tmp_path)
    assert_failed(
        result, Exit.DATABASE_UNUSABLE, f"The database cannot be used: cannot use {database}"
    )
    assert "Point DATABASE_URL at a file in a folder this user can write" in result.first_line
    assert result.seconds < 10


async def test_an_sqlite_file_in_use_exits_5(tmp_path: Path) -> None:
    """Another process holds the SQLite file: exit 5, saying to stop it or use PostgreSQL."""
    url = f"sqlite:///{tmp_path / 'imagine.db'}"
    holder = await open_storage(url, exclusive=True)
    try:
        result = await run_bot(bot_env(DATABASE_URL=url), tmp_path)
    finally:
        await holder.close()
    assert_failed(
        result, Exit.DATABASE_UNUSABLE, "The database cannot be used: another bot process"
    )
    assert "run several on PostgreSQL" in result.first_line


async def test_an_unreachable_postgresql_exits_5_quickly(tmp_path: Path) -> None:
    """Nothing listens at the PostgreSQL address: exit 5 in seconds, never echoing the URL."""
    url = f"postgresql://imagine:hunter2-secret@127.0.0.1:{free_port()}/imagine"
    result = await run_bot(bot_env(DATABASE_URL=url), tmp_path)
    # psycopg keeps its own loggers at WARNING, whatever LOG_LEVEL says: the pool's attempts
    # come first.
    sentence = "The database cannot be used: PostgreSQL: cannot connect"
    assert_failed(result, Exit.DATABASE_UNUSABLE, sentence, alone=False)
    assert "Connection refused Is the server running" in result.stderr.splitlines()[-1]
    assert "Check that PostgreSQL is running" in result.stderr.splitlines()[-1]
    assert "hunter2-secret" not in result.stderr
    assert result.seconds < 20


async def test_ctrl_c_while_logging_in_exits_130(tmp_path: Path) -> None:
    """Ctrl-C while Discord has not answered the login yet: exit 130 at once, nothing left."""
    async with silent_server() as (address, accepted):
        env = bot_env(DISCORD_API_BASE=f"http://{address}/api/v10")
        process = await start_bot(env, tmp_path)
        await asyncio.wait_for(accepted.wait(), 30)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        result = await ended(process, interrupted, within=10)
    assert_failed(result, Exit.INTERRUPTED, INTERRUPTED)
    assert result.seconds < 5
    storage = await open_storage(f"sqlite:///{tmp_path / 'data' / 'imagine.db'}", exclusive=True)
    await storage.close()  # the stopped process let go of the database


async def test_health_without_metrics_address_exits_1(tmp_path: Path) -> None:
    """`python -m bot health` with METRICS_ADDRESS unset: 1, saying what to set."""
    result = await run_bot(bot_env(), tmp_path, "health")
    assert result.code == 1
    assert result.first_line.startswith("METRICS_ADDRESS is not set")


async def test_a_metrics_port_in_use_exits_2(tmp_path: Path) -> None:
    """METRICS_ADDRESS names a port something else holds: exit 2, naming the address."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        async with FakeDiscord() as fake, gateway_front(fake) as api_base:
            env = bot_env(
                DISCORD_API_BASE=api_base,
                DISCORD_TOKEN=fake.token,
                METRICS_ADDRESS=f"127.0.0.1:{port}",
            )
            result = await run_bot(env, tmp_path)
    assert_failed(result, Exit.BAD_SETTINGS, f"METRICS_ADDRESS 127.0.0.1:{port} cannot be served")
    assert "Choose a free port, or leave it empty." in result.first_line


# -- a start that succeeds ------------------------------------------------------------------


async def test_a_start_that_succeeds_is_healthy_then_stops_cleanly(tmp_path: Path) -> None:
    """Logged in and READY from the gateway: `python -m bot health` exits 0 and /metrics says
    the gateway is connected; SIGTERM stops the bot with 0; then health exits 1."""
    port = free_port()
    async with FakeDiscord() as fake, gateway_front(fake) as api_base:
        env = bot_env(
            DISCORD_API_BASE=api_base,
            DISCORD_TOKEN=fake.token,
            METRICS_ADDRESS=f"127.0.0.1:{port}",
        )
        process = await start_bot(env, tmp_path)
        deadline = time.monotonic() + 30
        while (health := await run_bot(env, tmp_path, "health")).code != 0:
            assert process.returncode is None, "the bot exited"
            assert time.monotonic() < deadline, f"never healthy: {health.stderr}"
            await asyncio.sleep(0.2)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert "imagine_gateway_connected 1.0" in await response.text()
        assert fake.schema_errors == []
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        result = await ended(process, stopping, within=30)
        after = await run_bot(env, tmp_path, "health")
    assert result.code == Exit.STOPPED, result.stderr
    assert "Traceback" not in result.stderr
    assert result.seconds < 10
    assert after.code == 1


# -- the gateway's READY deadline, in-process -----------------------------------------------


async def test_a_gateway_that_never_answers_fails_the_start_within_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The WebSocket accepts and never speaks: the start fails with exit 4 once the READY
    deadline passes, and leaves nothing open (the database, the bot's tasks)."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # run() moves it
    url = f"sqlite:///{tmp_path / 'imagine.db'}"
    before = asyncio.all_tasks()
    async with (
        FakeDiscord() as fake,
        silent_server() as (address, accepted),
        gateway_front(fake, ws_url=f"ws://{address}/") as api_base,
    ):
        settings = Settings(
            discord_token=fake.token,
            vibedream_api_key="key",
            database_url=url,
            discord_api_base=api_base,
            shutdown_grace_seconds=0,
            _env_file=None,  # type: ignore[call-arg]
        )
        started = time.monotonic()
        with pytest.raises(StartupFailure) as failure:
            await run(settings, ready_seconds=1.5)
        seconds = time.monotonic() - started
        assert accepted.is_set()
    assert failure.value.exit_code == Exit.DISCORD_UNREACHABLE
    assert failure.value.sentence.startswith("Discord's gateway did not say READY within 1.5 s")
    assert 1.5 <= seconds < 5
    storage = await open_storage(url, exclusive=True)
    await storage.close()
    await asyncio.sleep(0)
    left = {task for task in asyncio.all_tasks() - before if not task.done()}
    assert left <= {asyncio.current_task()}, left


async def test_a_login_nobody_answers_fails_within_the_login_deadline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Discord accepts the connection and never answers: each attempt is cut short, the
    attempts are spaced out, and the whole login gives up at its deadline with exit 4."""
    bot = commands.AutoShardedBot(command_prefix="!", intents=discord.Intents.none())
    async with silent_server() as (address, accepted), bot:
        monkeypatch.setattr(discord.http.Route, "BASE", f"http://{address}/api/v10")
        started = time.monotonic()
        with pytest.raises(StartupFailure) as failure:
            await log_in(bot, "MTIz.a.token", attempt_seconds=0.3, seconds=2)
        seconds = time.monotonic() - started
        assert accepted.is_set()
    assert failure.value.exit_code == Exit.DISCORD_UNREACHABLE
    assert failure.value.sentence.startswith("Discord did not let the bot log in within 2 s.")
    assert 2 <= seconds < 3
    assert "Cannot reach Discord (no answer in time); trying again in 1 s (attempt 1 of 5)" in (
        caplog.text
    )

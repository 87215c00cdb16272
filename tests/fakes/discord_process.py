"""The fake Discord in a process of its own, for benchmarks that measure the bot alone.

`python -m tests.fakes.discord_process` serves a FakeDiscord and, beside it, a small control
API; it prints both URLs. `RemoteFakeDiscord` is the bot process's handle on it: it answers
what the harness asks of a fake (channels, command ids, interaction registration) and fetches
the records at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord.http
from aiohttp import web

from tests.fakes.fake_discord import DEFAULT_UPLOAD_LIMIT, FakeDiscord

FINAL_EDIT = "PATCH /webhooks/{app}/{token}/messages/@original"


def _export(fake: FakeDiscord) -> dict[str, Any]:
    """What a load benchmark reports on, as JSON."""
    return {
        "interactions": {
            str(record.id): {
                "token": record.token,
                "delivered_at": record.delivered_at,
                "first_response_at": record.first_response_at,
            }
            for record in fake.interactions.values()
        },
        "edits": [
            {"token": r.path.split("/")[-3], "time": r.time, "files": bool(r.files)}
            for r in fake.requests
            if r.route == FINAL_EDIT
        ],
        "rate_limited": sum(fake.rate_limited.values()),
    }


def _finished(fake: FakeDiscord, ids: list[int]) -> int:
    """How many of these interactions' replies show a final state: an image or a failure."""
    count = 0
    for interaction_id in ids:
        message = fake.interaction_original(interaction_id)
        if message is not None and (message.attachments or message.content.startswith("❌")):
            count += 1
    return count


async def _serve(rate_limits: bool) -> None:
    fake = FakeDiscord(rate_limits=rate_limits, validate=False)
    calls: dict[str, Callable[..., Any]] = {
        "add_channel": lambda channel, permissions: fake.add_channel(
            channel, bot_permissions=permissions
        ),
        "add_guild": fake.add_guild,
        "register": lambda payload: _registered(fake, payload),
        "command_id": lambda name, kind, guild_id: fake.command_id(name, kind, guild_id),
        "finished": lambda ids: _finished(fake, ids),
        "export": lambda: _export(fake),
    }

    async def rpc(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"result": calls[body["method"]](*body["args"])})

    control = web.Application()
    control.router.add_post("/rpc", rpc)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signal_number, stop.set)
    async with fake:
        host, port = runner.addresses[0][:2]
        print(
            json.dumps(
                {
                    "base_url": fake.base_url,
                    "control": f"http://{host}:{port}/rpc",
                    "token": fake.token,
                    "bot_user": fake.bot_user,
                    "application_id": fake.application_id,
                }
            ),
            flush=True,
        )
        await stop.wait()
    await runner.cleanup()


def _registered(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    record = fake.register_interaction(payload)
    return {"id": record.id, "token": record.token}


@dataclass
class RemoteRecord:
    id: int
    token: str


class RemoteFakeDiscord:
    """Stands in for a FakeDiscord object in the bot's process; the fake runs elsewhere."""

    upload_limit = DEFAULT_UPLOAD_LIMIT

    def __init__(self, rate_limits: bool = True) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.discord_process"]
            + (["--rate-limits"] if rate_limits else []),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        info = json.loads(self._process.stdout.readline())
        self.base_url: str = info["base_url"]
        self.token: str = info["token"]
        self.bot_user: dict[str, Any] = info["bot_user"]
        self.application_id: int = info["application_id"]
        self._control: str = info["control"]
        self.channels: dict[int, dict[str, Any]] = {}
        self.channel_permissions: dict[int, int] = {}
        self._command_ids: dict[tuple[str, int, int | None], int | None] = {}
        self._session: aiohttp.ClientSession | None = None

    def install(self) -> None:
        for route in {discord.http.Route, discord.webhook.async_.Route}:  # type: ignore[attr-defined]
            route.BASE = self.base_url

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)

    def _call(self, method: str, *args: Any) -> Any:
        """A blocking call, for set-up before the load starts."""
        request = urllib.request.Request(
            self._control,
            data=json.dumps({"method": method, "args": args}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["result"]

    async def call(self, method: str, *args: Any) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self._control, json={"method": method, "args": args}) as r:
            return (await r.json())["result"]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def add_channel(self, channel: dict[str, Any], *, bot_permissions: int | None = None) -> None:
        self.channels[int(channel["id"])] = channel
        if bot_permissions is not None:
            self.channel_permissions[int(channel["id"])] = bot_permissions
        self._call("add_channel", channel, bot_permissions)

    def add_guild(self, guild: dict[str, Any]) -> None:
        self._call("add_guild", guild)

    def command_id(self, name: str, kind: int = 1, guild_id: int | None = None) -> int | None:
        key = (name, kind, guild_id)
        if key not in self._command_ids:
            self._command_ids[key] = self._call("command_id", name, kind, guild_id)
        return self._command_ids[key]

    async def register_interaction(self, payload: dict[str, Any]) -> RemoteRecord:
        registered = await self.call("register", payload)
        return RemoteRecord(registered["id"], registered["token"])


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Discord with a control API.")
    parser.add_argument("--rate-limits", action="store_true")
    asyncio.run(_serve(parser.parse_args().rate_limits))


if __name__ == "__main__":
    main()

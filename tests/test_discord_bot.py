"""Starting up: commands appear without a manual step, synced only when they changed."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import discord
import pytest

from bot.discord_bot import REQUIRED_PERMISSIONS
from tests.world import GUILD_ID, running_world


async def test_first_start_syncs_globally_and_later_starts_do_not(tmp_path: Path) -> None:
    """With no server ids the commands go out globally once; an unchanged restart skips it."""
    async with running_world(tmp_path) as world:
        assert world.discord.command_syncs == {None: 1}
        names = {command["name"] for command in world.discord.commands[None]}
        assert names == {
            "imagine",
            "Imagine from image",
            "usage",
            "limits",
            "gallery",
            "show",
            "style",
            "prefer",
        }
    async with running_world(tmp_path) as restarted:
        assert restarted.discord.command_syncs == {}


async def test_changed_definitions_or_force_sync_again(tmp_path: Path) -> None:
    """A changed command (here, DMs allowed) or `python -m bot sync` (force) syncs again."""
    async with running_world(tmp_path):
        pass
    async with running_world(tmp_path, allow_dms=True) as world:
        assert world.discord.command_syncs == {None: 1}
        assert await world.bot.sync_commands() is False
        assert await world.bot.sync_commands(force=True) is True
        assert world.discord.command_syncs == {None: 2}


async def test_configured_servers_get_the_commands_directly(tmp_path: Path) -> None:
    """DISCORD_GUILD_IDS syncs to those servers (instant) and not globally."""
    async with running_world(tmp_path, discord_guild_ids=[GUILD_ID]) as world:
        assert world.discord.command_syncs == {GUILD_ID: 1}


async def test_the_invite_url_is_logged_with_scopes_and_permissions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On start the log shows an invite URL asking for exactly the permissions the bot needs."""
    with caplog.at_level(logging.INFO, logger="bot.discord_bot"):
        async with running_world(tmp_path) as world:
            pass
    [line] = [r.getMessage() for r in caplog.records if "Invite the bot" in r.getMessage()]
    query = parse_qs(urlsplit(line.split(": ", 1)[1]).query)
    assert query["client_id"] == [str(world.bot.application_id)]
    assert set(query["scope"][0].split()) == {"bot", "applications.commands"}
    granted = discord.Permissions(int(query["permissions"][0]))
    assert granted == REQUIRED_PERMISSIONS
    assert granted.attach_files and granted.embed_links and not granted.administrator


def test_the_readme_invite_url_asks_for_the_same_permissions() -> None:
    """The hand-built invite URL in the README stays in step with the code."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    [value] = re.findall(r"permissions=(\d+)", readme)
    assert discord.Permissions(int(value)) == REQUIRED_PERMISSIONS

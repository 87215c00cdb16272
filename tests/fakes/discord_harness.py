"""Deliver gateway events into a real discord.py client that is logged in against FakeDiscord.

No gateway connection is made: the payloads Discord would send over the websocket are built
here with their current shapes and handed to the client's own parsers (`parse_guild_create`,
`parse_interaction_create`, `parse_message_create`), so the real CommandTree, views, modals and
HTTP clients do the rest.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import discord
from discord import app_commands

from tests.fakes.fake_discord import FakeDiscord, FakeMessage, InteractionRecord, new_snowflake

Payload = dict[str, Any]

_SEND = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    use_application_commands=True,
)
DEFAULT_MEMBER_PERMISSIONS = _SEND.value
DEFAULT_BOT_PERMISSIONS = _SEND.value

# Interaction types and the command types inside APPLICATION_COMMAND data.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
CHAT_INPUT = 1
MESSAGE_CONTEXT_MENU = 3


# -- payload builders ---------------------------------------------------------------------


def make_user(name: str = "tester", *, user_id: int | None = None, bot: bool = False) -> Payload:
    return {
        "id": str(user_id or new_snowflake()),
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "avatar_decoration_data": None,
        "primary_guild": None,
        "collectibles": None,
    }


def make_member(user: Payload, *, roles: Sequence[int] = ()) -> Payload:
    return {
        "user": user,
        "roles": [str(role) for role in roles],
        "joined_at": datetime.now(UTC).isoformat(),
        "nick": None,
        "avatar": None,
        "banner": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


def make_role(
    name: str, *, role_id: int | None = None, permissions: int = 0, position: int = 1
) -> Payload:
    return {
        "id": str(role_id or new_snowflake()),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }


def role_overwrite(role_id: int, *, allow: int = 0, deny: int = 0) -> Payload:
    return {"id": str(role_id), "type": 0, "allow": str(allow), "deny": str(deny)}


def member_overwrite(user_id: int, *, allow: int = 0, deny: int = 0) -> Payload:
    return {"id": str(user_id), "type": 1, "allow": str(allow), "deny": str(deny)}


def text_channel(
    name: str = "general",
    *,
    channel_id: int | None = None,
    overwrites: Sequence[Payload] = (),
    position: int = 0,
) -> Payload:
    return {
        "id": str(channel_id or new_snowflake()),
        "type": 0,
        "name": name,
        "position": position,
        "permission_overwrites": list(overwrites),
        "parent_id": None,
        "topic": None,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }


DEFAULT_USER = make_user("tester", user_id=100_000_000_000_000_001)


# -- guilds -------------------------------------------------------------------------------


# What a GUILD_CREATE carries beyond the guild object GET /guilds/{id} answers with.
GATEWAY_ONLY = frozenset(
    {"channels", "members", "member_count", "joined_at", "large", "unavailable", "threads"}
    | {"presences", "voice_states", "stage_instances", "guild_scheduled_events"}
    | {"soundboard_sounds"}
)


def make_guild(
    bot: discord.Client,
    fake: FakeDiscord,
    *,
    guild_id: int | None = None,
    name: str = "Test Guild",
    channels: Sequence[Payload] | None = None,
    roles: Sequence[Payload] = (),
    members: Sequence[Payload] = (),
    owner_id: int | None = None,
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
    everyone_permissions: int = DEFAULT_MEMBER_PERMISSIONS,
    preferred_locale: str = "en-US",
) -> discord.Guild:
    """Dispatch a GUILD_CREATE so the guild, its channels, roles and members are cached, and
    tell the fake about the channels and the bot's effective permissions in each.

    The bot gets a managed role with `bot_permissions`; restrict it per channel with
    `member_overwrite(bot.user.id, deny=...)` in a channel's overwrites.
    """
    assert bot.user is not None, "log the bot in first (running_bot)"
    guild_id = guild_id or new_snowflake()
    channels = channels if channels is not None else [text_channel()]
    everyone = make_role(
        "@everyone", role_id=guild_id, permissions=everyone_permissions, position=0
    )
    bot_role = make_role(bot.user.name, permissions=bot_permissions)
    bot_role.update(managed=True, tags={"bot_id": str(bot.user.id)})
    bot_member = make_member(
        make_user(bot.user.name, user_id=bot.user.id, bot=True), roles=[int(bot_role["id"])]
    )
    all_members = [bot_member, *members]
    payload: Payload = {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "owner_id": str(owner_id or DEFAULT_USER["id"]),
        "roles": [everyone, bot_role, *roles],
        "channels": list(channels),
        "members": all_members,
        # Equal to the members sent, so discord.py sees the guild as chunked.
        "member_count": len(all_members),
        "joined_at": datetime.now(UTC).isoformat(),
        "large": False,
        "unavailable": False,
        "features": [],
        "emojis": [],
        "stickers": [],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "preferred_locale": preferred_locale,
        "premium_tier": 0,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "afk_timeout": 300,
        "afk_channel_id": None,
    }
    bot._connection.parse_guild_create(payload)  # type: ignore[arg-type]
    fake.add_guild({k: v for k, v in payload.items() if k not in GATEWAY_ONLY})
    guild = bot.get_guild(guild_id)
    assert guild is not None and guild.me is not None
    for channel in channels:
        cached = guild.get_channel(int(channel["id"]))
        assert isinstance(cached, discord.abc.GuildChannel)
        fake.add_channel(
            {**channel, "guild_id": str(guild_id)},
            bot_permissions=cached.permissions_for(guild.me).value,
        )
    return guild


# -- interactions -------------------------------------------------------------------------


async def _deliver(
    bot: discord.Client,
    fake: FakeDiscord,
    kind: int,
    data: Payload,
    *,
    user: Payload,
    guild_id: int | None,
    channel_id: int,
    permissions: int,
    app_permissions: int | None,
    message: Payload | None = None,
    roles: Sequence[int] = (),
    locale: str = "en-US",
) -> InteractionRecord:
    """Build an INTERACTION_CREATE as Discord sends it, register it with the fake (which starts
    its 3 s / 15 min clocks) and hand it to discord.py."""
    if app_permissions is None:
        app_permissions = fake.channel_permissions.get(channel_id, DEFAULT_BOT_PERMISSIONS)
    payload: Payload = {
        "id": str(new_snowflake()),
        "application_id": str(fake.application_id),
        "type": kind,
        "data": data,
        "token": secrets.token_urlsafe(96),
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "attachment_size_limit": fake.upload_limit,
        "app_permissions": str(app_permissions),
        "channel_id": str(channel_id),
    }
    if guild_id is not None:
        channel = fake.channels.get(channel_id) or text_channel(channel_id=channel_id)
        payload |= {
            "guild_id": str(guild_id),
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "guild_locale": "en-US",
            "channel": {**channel, "guild_id": str(guild_id), "permissions": str(permissions)},
            "member": {**make_member(user, roles=roles), "permissions": str(permissions)},
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,  # GUILD
        }
    else:
        payload |= {
            "channel": {"id": str(channel_id), "type": 1, "recipients": [user], "flags": 0},
            "user": user,
            # "0" stands for the bot's own DM in the guild-install slot.
            "authorizing_integration_owners": {"0": "0"},
            "context": 1,  # BOT_DM
        }
    if message is not None:
        payload["message"] = message
    record = fake.register_interaction(payload)
    if inspect.isawaitable(record):  # a fake in another process answers over HTTP
        record = await record
    bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # let discord.py start the handler task
    return record


def _tree(bot: discord.Client) -> app_commands.CommandTree[Any] | None:
    return bot._connection._command_tree


def _find_command(
    bot: discord.Client, path: Sequence[str], guild_id: int | None
) -> tuple[app_commands.Command[Any, ..., Any] | app_commands.Group | None, bool]:
    """The tree's command for `path` (e.g. ["image", "generate"]) and whether it is guild-only."""
    tree = _tree(bot)
    if tree is None:
        return None, False
    found: Any = None
    guild_only = False
    if guild_id is not None:
        found = tree.get_command(path[0], guild=discord.Object(guild_id))
        guild_only = found is not None
    found = found or tree.get_command(path[0])
    for name in path[1:]:
        found = found.get_command(name) if isinstance(found, app_commands.Group) else None
    return found, guild_only


def _infer_option_type(value: Any) -> discord.AppCommandOptionType:
    option_type = discord.AppCommandOptionType
    if isinstance(value, bool):
        return option_type.boolean
    if isinstance(value, int):
        return option_type.integer
    if isinstance(value, float):
        return option_type.number
    if isinstance(value, dict) and "filename" in value:
        return option_type.attachment
    if isinstance(value, dict) and "username" in value:
        return option_type.user
    if isinstance(value, dict) and "type" in value:
        return option_type.channel
    if isinstance(value, dict):
        return option_type.role
    return option_type.string


def _option(
    name: str,
    value: Any,
    option_type: discord.AppCommandOptionType,
    resolved: dict[str, dict[str, Any]],
    member_permissions: int,
) -> Payload:
    """One option as Discord sends it; entities go to `resolved` and the option carries the id."""
    kinds = discord.AppCommandOptionType
    if option_type in (kinds.string, kinds.integer, kinds.number, kinds.boolean):
        convert = {kinds.string: str, kinds.integer: int, kinds.number: float, kinds.boolean: bool}
        return {"name": name, "type": option_type.value, "value": convert[option_type](value)}
    if option_type is kinds.mentionable:
        option_type = kinds.user if "username" in value else kinds.role
    section = {
        kinds.user: "users",
        kinds.channel: "channels",
        kinds.role: "roles",
        kinds.attachment: "attachments",
    }[option_type]
    resolved.setdefault(section, {})[value["id"]] = value
    if option_type is kinds.user:
        member = {k: v for k, v in make_member(value).items() if k != "user"}
        resolved.setdefault("members", {})[value["id"]] = {
            **member,
            "permissions": str(member_permissions),
        }
    return {"name": name, "type": option_type.value, "value": value["id"]}


def _command_data(
    bot: discord.Client,
    fake: FakeDiscord,
    name: str,
    given: Mapping[str, Any],
    *,
    guild_id: int | None,
    permissions: int,
    focused: str | None = None,
) -> Payload:
    """A slash command's interaction data as Discord sends it; `focused` marks the option an
    autocomplete is for (sent as the partial string typed so far)."""
    path = name.split()
    command, guild_only = _find_command(bot, path, guild_id)
    parameters: dict[str, discord.AppCommandOptionType] = {}
    if isinstance(command, app_commands.Command):
        parameters = {p.display_name: p.type for p in command.parameters}
        if unknown := set(given) - set(parameters):
            raise ValueError(f"/{name} has no option(s) {sorted(unknown)}")
    resolved: dict[str, dict[str, Any]] = {}
    built = []
    for key, value in given.items():
        if key == focused:
            built.append(
                {"name": key, "type": parameters[key].value, "value": value, "focused": True}
            )
            continue
        option_type = parameters.get(key) or _infer_option_type(value)
        built.append(_option(key, value, option_type, resolved, permissions))
    # Wrap the leaf's options in its subcommand (type 1) and group (type 2) layers.
    for depth in range(len(path) - 1, 0, -1):
        layer_type = 1 if depth == len(path) - 1 else 2
        built = [{"name": path[depth], "type": layer_type, "options": built}]
    data: Payload = {
        "id": str(fake.command_id(path[0], CHAT_INPUT, guild_id) or new_snowflake()),
        "name": path[0],
        "type": CHAT_INPUT,
        "options": built,
    }
    if resolved:
        data["resolved"] = resolved
    if guild_only:
        data["guild_id"] = str(guild_id)
    return data


async def slash(
    bot: discord.Client,
    fake: FakeDiscord,
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    user: Payload = DEFAULT_USER,
    guild_id: int | None,
    channel_id: int,
    permissions: int = DEFAULT_MEMBER_PERMISSIONS,
    app_permissions: int | None = None,
    attachments: Mapping[str, Payload] | None = None,
    roles: Sequence[int] = (),
    locale: str = "en-US",
) -> InteractionRecord:
    """Invoke a slash command; `name` may be a path ("image generate") for subcommands.

    Option types come from the bot's CommandTree (else from the Python values); users, channels,
    roles and attachments (from `fake.host_attachment`) are passed as their payload dicts and
    land in `resolved`, as on Discord. `attachments` is a shorthand for attachment options.
    """
    given = {**(options or {}), **(attachments or {})}
    data = _command_data(bot, fake, name, given, guild_id=guild_id, permissions=permissions)
    return await _deliver(
        bot,
        fake,
        APPLICATION_COMMAND,
        data,
        user=user,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        app_permissions=app_permissions,
        roles=roles,
        locale=locale,
    )


async def autocomplete(
    bot: discord.Client,
    fake: FakeDiscord,
    name: str,
    options: Mapping[str, Any],
    focused: str,
    *,
    user: Payload = DEFAULT_USER,
    guild_id: int | None,
    channel_id: int,
    permissions: int = DEFAULT_MEMBER_PERMISSIONS,
    locale: str = "en-US",
) -> list[Payload]:
    """Type into option `focused` of a slash command; return the choices the bot offered."""
    data = _command_data(
        bot, fake, name, options, guild_id=guild_id, permissions=permissions, focused=focused
    )
    record = await _deliver(
        bot,
        fake,
        AUTOCOMPLETE,
        data,
        user=user,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        app_permissions=None,
        locale=locale,
    )
    for _ in range(200):  # the bot answers within the 3 s window, usually at once
        if record.response_type is not None:
            break
        await asyncio.sleep(0.01)
    assert record.response_type == 8, f"no autocomplete answer (got {record.response_type})"
    return list((record.response_data or {}).get("choices") or [])


async def message_command(
    bot: discord.Client,
    fake: FakeDiscord,
    name: str,
    target_id: int,
    *,
    user: Payload = DEFAULT_USER,
    permissions: int = DEFAULT_MEMBER_PERMISSIONS,
    app_permissions: int | None = None,
    locale: str = "en-US",
) -> InteractionRecord:
    """Invoke a message context menu on a message the fake knows, in that message's channel."""
    target = fake.messages[target_id]
    data: Payload = {
        "id": str(fake.command_id(name, MESSAGE_CONTEXT_MENU, target.guild_id) or new_snowflake()),
        "name": name,
        "type": MESSAGE_CONTEXT_MENU,
        "target_id": str(target_id),
        "resolved": {"messages": {str(target_id): fake.message_payload(target)}},
    }
    tree = _tree(bot)
    if (
        tree is not None
        and target.guild_id is not None
        and tree.get_command(
            name, guild=discord.Object(target.guild_id), type=discord.AppCommandType.message
        )
    ):
        data["guild_id"] = str(target.guild_id)
    return await _deliver(
        bot,
        fake,
        APPLICATION_COMMAND,
        data,
        user=user,
        guild_id=target.guild_id,
        channel_id=target.channel_id,
        permissions=permissions,
        app_permissions=app_permissions,
        locale=locale,
    )


async def component(
    bot: discord.Client,
    fake: FakeDiscord,
    message_id: int,
    custom_id: str,
    *,
    component_type: int = 2,  # button
    values: Sequence[str] | None = None,  # for select menus
    user: Payload = DEFAULT_USER,
    permissions: int = DEFAULT_MEMBER_PERMISSIONS,
    app_permissions: int | None = None,
    locale: str = "en-US",
) -> InteractionRecord:
    """Click a button (or pick select `values`) on a message the fake knows."""
    message = fake.messages[message_id]
    data: Payload = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = list(values)
    return await _deliver(
        bot,
        fake,
        MESSAGE_COMPONENT,
        data,
        user=user,
        guild_id=message.guild_id,
        channel_id=message.channel_id,
        permissions=permissions,
        app_permissions=app_permissions,
        message=fake.message_payload(message),
        locale=locale,
    )


def _submitted(components: Sequence[Payload], values: Mapping[str, Any]) -> list[Payload]:
    """Mirror a modal's layout (action rows or labels) with the user's values filled in."""
    submitted = []
    for item in components:
        if item["type"] == 1:  # action row
            submitted.append({"type": 1, "components": _submitted(item["components"], values)})
        elif item["type"] == 18:  # label
            submitted.append({"type": 18, "component": _submitted([item["component"]], values)[0]})
        elif "custom_id" in item:
            value = values.get(item["custom_id"], "")
            key = "values" if isinstance(value, list) else "value"
            submitted.append({"type": item["type"], "custom_id": item["custom_id"], key: value})
        else:
            submitted.append({"type": item["type"]})
    return submitted


def _custom_ids(components: Sequence[Payload]) -> set[str]:
    found = set()
    for item in components:
        children = item.get("components") or ([item["component"]] if "component" in item else [])
        found |= _custom_ids(children)
        if "custom_id" in item:
            found.add(item["custom_id"])
    return found


async def modal_submit(
    bot: discord.Client,
    fake: FakeDiscord,
    opened_by: InteractionRecord,
    values: Mapping[str, Any],
) -> InteractionRecord:
    """Submit the modal that the bot opened in answer to `opened_by`, as that same user, with
    `values` by input custom_id (a list for selects)."""
    assert opened_by.response_type == 9 and opened_by.response_data is not None, "no modal opened"
    modal = opened_by.response_data
    unknown = set(values) - _custom_ids(modal["components"])
    if unknown:
        raise ValueError(f"modal {modal['custom_id']!r} has no input(s) {sorted(unknown)}")
    opener = opened_by.payload
    permissions = int(opener["member"]["permissions"]) if "member" in opener else 0
    return await _deliver(
        bot,
        fake,
        MODAL_SUBMIT,
        {"custom_id": modal["custom_id"], "components": _submitted(modal["components"], values)},
        user=opened_by.user,
        guild_id=opened_by.guild_id,
        channel_id=int(opener["channel_id"]),
        permissions=permissions,
        app_permissions=int(opener["app_permissions"]),
        message=opener.get("message"),
        locale=opener["locale"],
    )


# -- messages -----------------------------------------------------------------------------


async def message_create(
    bot: discord.Client,
    fake: FakeDiscord,
    content: str,
    *,
    author: Payload = DEFAULT_USER,
    channel_id: int,
    guild_id: int | None,
    mentions: Sequence[Payload] | None = None,
    attachments: Sequence[Payload] = (),
    reply_to: int | None = None,
) -> FakeMessage:
    """Someone posts a message: store it in the fake (so the bot can fetch or reply to it) and
    dispatch MESSAGE_CREATE. `mentions` defaults to the bot user; write the `<@id>` into
    `content` yourself if the bot parses it."""
    mentioned = list(mentions) if mentions is not None else [fake.bot_user]
    message = fake.add_message(
        channel_id,
        author,
        content,
        guild_id=guild_id,
        attachments=list(attachments),
        mentions=mentioned,
        reply_to=reply_to,
    )
    payload = fake.message_payload(message)
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["member"] = {k: v for k, v in make_member(author).items() if k != "user"}
    bot._connection.parse_message_create(payload)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # let discord.py start the handler tasks
    return message


async def message_delete(bot: discord.Client, fake: FakeDiscord, message_id: int) -> None:
    """A message is deleted (through the API or by someone in Discord): mark it so in the fake
    and dispatch MESSAGE_DELETE, which Discord sends for every deletion, the bot's own too."""
    message = fake.messages[message_id]
    message.deleted = True
    payload: Payload = {"id": str(message_id), "channel_id": str(message.channel_id)}
    if message.guild_id is not None:
        payload["guild_id"] = str(message.guild_id)
    bot._connection.parse_message_delete(payload)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # let discord.py start the listeners


# -- lifecycle ----------------------------------------------------------------------------


@asynccontextmanager
async def running_bot(bot: discord.Client, fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """Start the fake, point discord.py at it and log the bot in (which runs `setup_hook`);
    afterwards close the bot and the fake, restoring discord.py's base URLs."""
    async with fake:
        fake.install()
        try:
            await bot.login(fake.token)
            yield bot
        finally:
            await bot.close()

"""A fake Discord HTTP API on 127.0.0.1 for driving a real discord.py bot in tests.

It serves the REST routes a bot uses (login, command sync, interaction callbacks and webhooks,
channel messages, a CDN for attachments), enforces the Discord rules bots trip over (3 s to
acknowledge, 15 min tokens, one callback per interaction, size limits, optional rate limits),
validates every JSON body against Discord's OpenAPI spec and records everything for assertions.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import math
import mimetypes
import random
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

import aiohttp
import discord.http
import discord.webhook.async_
from aiohttp import web
from PIL import Image, UnidentifiedImageError

from tests.fakes.openapi_validation import request_body_errors

T = TypeVar("T")

API_PREFIX = "/api/v10"
DEFAULT_APPLICATION_ID = 1_300_000_000_000_000_001
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
CALLBACK_WINDOW = 3.0  # seconds Discord waits for the first interaction response
TOKEN_LIFETIME = 15 * 60.0  # seconds an interaction token can be used for webhooks

# Message flags.
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Permission bits the fake enforces on channel routes.
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16

# Interaction callback types.
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

_DISCORD_EPOCH_MS = 1_420_070_400_000
_increment = itertools.count()


def new_snowflake() -> int:
    """A fresh, time-ordered Discord snowflake."""
    ms = int(time.time() * 1000) - _DISCORD_EPOCH_MS
    return (ms << 22) | (next(_increment) % 4096)


def snowflake_time(snowflake: int) -> str:
    ms = (snowflake >> 22) + _DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


class UploadedFile(NamedTuple):
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    time: float
    method: str
    route: str  # e.g. "PATCH /webhooks/{app}/{token}/messages/@original"
    path: str  # concrete, without the /api/v10 prefix
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    status: int = 0


@dataclass
class FakeAttachment:
    payload: dict[str, Any]
    data: bytes
    # Once links have expired: the `ex` its current URL carries; older URLs are refused.
    link_key: str | None = None

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def filename(self) -> str:
        return str(self.payload["filename"])

    @property
    def content_type(self) -> str | None:
        return self.payload.get("content_type")


@dataclass
class FakeMessage:
    id: int
    channel_id: int
    author: dict[str, Any]
    created_at: float  # on the fake's clock
    guild_id: int | None = None
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    flags: int = 0
    tts: bool = False
    type: int = 0
    message_reference: dict[str, Any] | None = None
    webhook_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    edits: list[float] = field(default_factory=list)  # fake-clock times of each edit
    edited_timestamp: str | None = None
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def edit_count(self) -> int:
        return len(self.edits)

    def to_payload(self) -> dict[str, Any]:
        """The message as Discord's REST API returns it."""
        payload: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author,
            "content": self.content,
            "timestamp": snowflake_time(self.id),
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": self.mentions,
            "mention_roles": [],
            "attachments": [attachment.payload for attachment in self.attachments],
            "embeds": [{"type": "rich", **embed} for embed in self.embeds],
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
            "components": self.components,
        }
        if self.webhook_id is not None:
            payload["webhook_id"] = payload["application_id"] = str(self.webhook_id)
        if self.interaction_metadata is not None:
            payload["interaction_metadata"] = self.interaction_metadata
        if self.message_reference is not None:
            payload["message_reference"] = self.message_reference
        return payload


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    payload: dict[str, Any]  # what the harness delivered to the bot
    delivered_at: float
    channel_id: int | None
    guild_id: int | None
    message_id: int | None  # the message a component (or its modal) sits on
    first_response_at: float | None = None
    response_type: int | None = None
    response_data: dict[str, Any] | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def response_delay(self) -> float | None:
        if self.first_response_at is None:
            return None
        return self.first_response_at - self.delivered_at

    @property
    def user(self) -> dict[str, Any]:
        user: dict[str, Any] = (
            self.payload["member"]["user"] if "member" in self.payload else self.payload["user"]
        )
        return user


@dataclass(frozen=True)
class Limit:
    count: int
    per: float  # seconds


GLOBAL_LIMIT = Limit(50, 1.0)  # bot-authenticated requests, all routes together
MESSAGE_EDIT_LIMIT = Limit(5, 5.0)  # edits of one message, whichever route edits it
DEFAULT_ROUTE_LIMIT = Limit(50, 1.0)
ROUTE_LIMITS = {
    "POST /channels/{cid}/messages": Limit(5, 5.0),
    "POST /webhooks/{app}/{token}": Limit(5, 2.0),
}
# Route parameters that give a route its own bucket per value, as Discord's "major parameters".
_MAJOR_PARAMETERS = ("cid", "guild", "token")


@dataclass
class _Window:
    """A fixed-window counter, as Discord's buckets behave from the client's point of view."""

    limit: Limit
    count: int = 0
    resets_at: float = float("-inf")

    def hit(self, now: float) -> float | None:
        """Count a request; return the seconds to wait instead if the window is full."""
        if now >= self.resets_at:
            self.count, self.resets_at = 0, now + self.limit.per
        if self.count >= self.limit.count:
            return self.resets_at - now
        self.count += 1
        return None


class DiscordHTTPError(Exception):
    """An error response in Discord's JSON shape."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code, **(extra or {})}
        if errors:
            self.body["errors"] = errors
        self.headers = headers or {}


def _form_error(path: str, code: str, message: str) -> DiscordHTTPError:
    """400 Invalid Form Body with Discord's nested `errors` object for a dotted field path."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path.split(".")):
        errors = {key: errors}
    return DiscordHTTPError(400, 50035, "Invalid Form Body", errors=errors)


def _max_length(path: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise _form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _check_message_limits(body: Mapping[str, Any]) -> None:
    _max_length("content", body.get("content"), 2000)
    embeds = body.get("embeds") or []
    total = 0
    for index, embed in enumerate(embeds):
        texts = {
            f"embeds.{index}.title": (embed.get("title"), 256),
            f"embeds.{index}.description": (embed.get("description"), 4096),
            f"embeds.{index}.footer.text": ((embed.get("footer") or {}).get("text"), 2048),
            f"embeds.{index}.author.name": ((embed.get("author") or {}).get("name"), 256),
        }
        for number, embed_field in enumerate(embed.get("fields") or []):
            texts[f"embeds.{index}.fields.{number}.name"] = (embed_field.get("name"), 256)
            texts[f"embeds.{index}.fields.{number}.value"] = (embed_field.get("value"), 1024)
        for path, (text, limit) in texts.items():
            _max_length(path, text, limit)
            total += len(text or "")
    if total > 6000:
        raise _form_error(
            "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


def _check_not_empty(body: Mapping[str, Any], files: Mapping[int, UploadedFile]) -> None:
    keys = ("content", "embeds", "attachments", "components", "sticker_ids", "poll")
    if not files and not any(body.get(key) for key in keys):
        raise DiscordHTTPError(400, 50006, "Cannot send an empty message")


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except UnidentifiedImageError:
        return None


@dataclass
class _Call:
    """What a route handler needs from a request."""

    params: Mapping[str, str]
    json: Any
    files: dict[int, UploadedFile]  # by the N of the `files[N]` form field
    query: Mapping[str, str]
    time: float  # arrival, on the fake's clock


_Reply = tuple[int, Any]  # status and JSON body (None for 204)
_Handler = Callable[[_Call], _Reply]
_FILE_FIELD = re.compile(r"files\[(\d+)\]")


async def _read_body(request: web.Request) -> tuple[Any, dict[int, UploadedFile]]:
    if request.content_type != "multipart/form-data":
        text = await request.text()
        return (json.loads(text) if text else None), {}
    payload: Any = None
    files: dict[int, UploadedFile] = {}
    async for part in await request.multipart():
        if not isinstance(part, aiohttp.BodyPartReader):
            continue
        if part.name == "payload_json":
            payload = json.loads(await part.text())
        elif part.filename is not None:
            match = _FILE_FIELD.fullmatch(part.name or "")
            index = int(match.group(1)) if match else len(files)
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            files[index] = UploadedFile(part.filename, content_type, bytes(await part.read()))
    return payload, files


def _json_response(status: int, body: Any, headers: Mapping[str, str]) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    # discord.py only decodes JSON when the content type is exactly "application/json", so
    # aiohttp's json_response (which appends "; charset=utf-8") can't be used.
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
    )


class FakeDiscord:
    def __init__(
        self,
        *,
        token: str = "test-token",
        application_id: int = DEFAULT_APPLICATION_ID,
        bot_user_id: int | None = None,
        rate_limits: bool = False,
        clock: Callable[[], float] = time.monotonic,
        upload_limit: int = DEFAULT_UPLOAD_LIMIT,
        upload_failure_rate: float = 0.0,
        validate: bool = True,
        seed: int = 0,
    ) -> None:
        self.token = token
        # A share of uploads answered 502, as Discord's edge sometimes does.
        self.upload_failure_rate = upload_failure_rate
        self.upload_failures = 0
        # Schema checks cost about a millisecond a body: benchmarks turn them off.
        self.validate = validate
        self._rng = random.Random(seed)
        self.application_id = application_id
        self.rate_limits = rate_limits
        self.clock = clock
        self.upload_limit = upload_limit
        self.bot_user: dict[str, Any] = {
            "id": str(bot_user_id or application_id),
            "username": "fake-bot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
        }
        self.requests: list[RecordedRequest] = []
        self.schema_errors: list[str] = []
        self.messages: dict[int, FakeMessage] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, dict[str, Any]] = {}  # GET /guilds/{id}, as the bot may fetch one
        # The bot's effective permissions per channel; enforced on channel routes when known.
        self.channel_permissions: dict[int, int] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # by guild id, None = global
        self.command_syncs: Counter[int | None] = Counter()
        # Status codes to answer the next requests that carry files with, e.g. deque([500]).
        self.fail_uploads: deque[int] = deque()
        # How many of the next interactions to let expire before their first answer (10062).
        self.expire_next_callbacks = 0
        self.rate_limited: Counter[str] = Counter()  # 429s served, by route (or "global")
        self.global_limit = GLOBAL_LIMIT
        self.message_edit_limit = MESSAGE_EDIT_LIMIT
        self.route_limits: dict[str, Limit] = dict(ROUTE_LIMITS)
        self._windows: dict[tuple[Any, ...], _Window] = {}
        self._by_token: dict[str, InteractionRecord] = {}
        self._runner: web.AppRunner | None = None
        self._origin = ""
        self._saved_bases: dict[type[discord.http.Route], str] = {}

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._origin + API_PREFIX

    async def start(self) -> None:
        # Our own 413 decides what is too large, not aiohttp's body size guard.
        app = web.Application(client_max_size=1 << 40)
        for method, template, handler, bot_auth in self._routes():
            app.router.add_route(
                method, API_PREFIX + template, self._endpoint(method, template, handler, bot_auth)
            )
        app.router.add_get("/attachments/{id}/{filename}", self._serve_attachment)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._origin = f"http://{host}:{port}"

    async def close(self) -> None:
        self.uninstall()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def install(self) -> None:
        """Point discord.py's REST and webhook routes at this fake."""
        # Both modules expose `Route`; in discord.py 2.7 they are one class, in others two.
        for route in {discord.http.Route, discord.webhook.async_.Route}:  # type: ignore[attr-defined]
            self._saved_bases.setdefault(route, route.BASE)
            route.BASE = self.base_url

    def uninstall(self) -> None:
        for route, base in self._saved_bases.items():
            route.BASE = base
        self._saved_bases.clear()

    # -- setup for tests -------------------------------------------------------------------

    def add_channel(self, channel: dict[str, Any], *, bot_permissions: int | None = None) -> None:
        """Make a channel known (GET /channels/{id}, message routes) and optionally the bot's
        effective permissions in it, which the channel routes then enforce."""
        channel_id = int(channel["id"])
        self.channels[channel_id] = channel
        if bot_permissions is not None:
            self.channel_permissions[channel_id] = bot_permissions

    def add_guild(self, guild: dict[str, Any]) -> None:
        """Make a server known to GET /guilds/{id}, as a bot may fetch one it has no cache of."""
        self.guilds[int(guild["id"])] = guild

    def host_attachment(
        self, data: bytes, filename: str, content_type: str | None = None
    ) -> dict[str, Any]:
        """Serve `data` on the fake CDN and return a Discord attachment object for it."""
        return self._host(data, filename, content_type).payload

    def expire_attachment_links(self) -> None:
        """Let every attachment URL handed out so far expire, as Discord's signed CDN links do
        after a day: the CDN refuses them, and messages read from now on carry fresh ones."""
        for attachment in self.attachments.values():
            attachment.link_key = f"{new_snowflake():x}"
            base = attachment.payload["url"].split("?", 1)[0]
            attachment.payload["url"] = attachment.payload["proxy_url"] = (
                f"{base}?ex={attachment.link_key}"
            )

    def add_message(
        self,
        channel_id: int,
        author: dict[str, Any],
        content: str,
        *,
        guild_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
        mentions: list[dict[str, Any]] | None = None,
        reply_to: int | None = None,
    ) -> FakeMessage:
        """Store a message someone else posted (attachments from `host_attachment`)."""
        message = FakeMessage(
            id=new_snowflake(),
            channel_id=channel_id,
            guild_id=guild_id,
            author=author,
            created_at=self.clock(),
            content=content,
            attachments=[self.attachments[int(a["id"])] for a in attachments or []],
            mentions=list(mentions or []),
        )
        if reply_to is not None:
            self._set_reference(message, {"message_id": reply_to})
        self.messages[message.id] = message
        return message

    def register_interaction(self, payload: dict[str, Any]) -> InteractionRecord:
        """Start the 3 s and 15 min clocks of an interaction about to be delivered to the bot."""
        message = payload.get("message")
        channel_id = payload.get("channel_id")
        guild_id = payload.get("guild_id")
        record = InteractionRecord(
            id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            payload=payload,
            delivered_at=self.clock(),
            channel_id=int(channel_id) if channel_id else None,
            guild_id=int(guild_id) if guild_id else None,
            message_id=int(message["id"]) if message else None,
        )
        self.interactions[record.id] = record
        self._by_token[record.token] = record
        return record

    def expire_interaction(self, token: str) -> None:
        """Make an interaction token invalid now, as if 15 minutes had passed."""
        self._by_token[token].expired = True

    # -- queries for assertions ------------------------------------------------------------

    def messages_in(self, channel_id: int) -> list[FakeMessage]:
        """Messages in a channel that are not deleted, oldest first."""
        return [m for m in self.messages.values() if m.channel_id == channel_id and not m.deleted]

    def interaction_record(self, interaction_id: int) -> InteractionRecord:
        return self.interactions[interaction_id]

    def interaction_original(self, interaction_id: int) -> FakeMessage | None:
        message_id = self.interactions[interaction_id].original_message_id
        return None if message_id is None else self.messages[message_id]

    def interaction_followups(self, interaction_id: int) -> list[FakeMessage]:
        """Followups that created messages; a followup that filled a deferred response
        became the original instead, as on Discord."""
        return [self.messages[i] for i in self.interactions[interaction_id].followup_ids]

    def edits_of(self, message_id: int) -> list[float]:
        return list(self.messages[message_id].edits)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == route]

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        *,
        timeout: float = 2.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
    ) -> T:
        """Poll `predicate` until it returns something truthy, and return that.

        discord.py runs handlers as tasks, so tests wait on the records they produce.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while not (result := predicate()):
            if asyncio.get_running_loop().time() > deadline:
                recent = ", ".join(f"{r.route} -> {r.status}" for r in self.requests[-8:])
                raise TimeoutError(f"condition not met within {timeout}s; last requests: {recent}")
            await asyncio.sleep(0.005)
        return result

    # -- request plumbing ------------------------------------------------------------------

    def _routes(self) -> list[tuple[str, str, _Handler, bool]]:
        """(method, template, handler, needs bot auth)."""
        original = "/webhooks/{app}/{token}/messages/@original"
        webhook_message = "/webhooks/{app}/{token}/messages/{id}"
        message = "/channels/{cid}/messages/{mid}"
        return [
            ("GET", "/users/@me", self._get_me, True),
            ("GET", "/oauth2/applications/@me", self._get_application, True),
            ("GET", "/applications/{app}/commands", self._get_commands, True),
            ("PUT", "/applications/{app}/commands", self._put_commands, True),
            ("GET", "/applications/{app}/guilds/{guild}/commands", self._get_commands, True),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self._put_commands, True),
            ("POST", "/interactions/{id}/{token}/callback", self._interaction_callback, False),
            ("GET", original, self._get_webhook_message, False),
            ("PATCH", original, self._edit_webhook_message, False),
            ("DELETE", original, self._delete_webhook_message, False),
            ("POST", "/webhooks/{app}/{token}", self._followup, False),
            ("GET", webhook_message, self._get_webhook_message, False),
            ("PATCH", webhook_message, self._edit_webhook_message, False),
            ("DELETE", webhook_message, self._delete_webhook_message, False),
            ("GET", "/guilds/{gid}", self._get_guild, True),
            ("GET", "/channels/{cid}", self._get_channel, True),
            ("POST", "/channels/{cid}/messages", self._create_channel_message, True),
            ("GET", message, self._get_channel_message, True),
            ("PATCH", message, self._edit_channel_message, True),
            ("DELETE", message, self._delete_channel_message, True),
        ]

    def _endpoint(
        self, method: str, template: str, handler: _Handler, bot_auth: bool
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        route = f"{method} {template}"

        async def serve(request: web.Request) -> web.Response:
            body, files = await _read_body(request)
            record = self._record(request, route, body, list(files.values()))
            checked = self.validate and body is not None
            errors = request_body_errors(method, template, body) if checked else []
            self.schema_errors.extend(f"{route}: {error}" for error in errors)
            headers: dict[str, str] = {}
            try:
                if bot_auth and request.headers.get("Authorization") != f"Bot {self.token}":
                    raise DiscordHTTPError(401, 0, "401: Unauthorized")
                if self.rate_limits:
                    headers = self._rate_limit(route, request.match_info, bot_auth)
                if files:
                    self._check_uploads(files)
                call = _Call(request.match_info, body, files, request.query, record.time)
                try:
                    status, reply = handler(call)
                except (TypeError, ValueError, KeyError, AttributeError) as malformed:
                    # A body of the wrong shape, which Discord rejects; with a valid body
                    # this is a bug in the fake and must stay loud.
                    if not errors:
                        raise
                    raise DiscordHTTPError(400, 50035, "Invalid Form Body") from malformed
            except DiscordHTTPError as error:
                status, reply = error.status, error.body
                headers.update(error.headers)
            record.status = status
            return _json_response(status, reply, headers)

        return serve

    def _record(
        self,
        request: web.Request,
        route: str,
        body: Any = None,
        files: list[UploadedFile] | None = None,
    ) -> RecordedRequest:
        record = RecordedRequest(
            time=self.clock(),
            method=request.method,
            route=route,
            path=request.path.removeprefix(API_PREFIX),
            query=dict(request.query),
            json=body,
            files=files or [],
        )
        self.requests.append(record)
        return record

    async def _unknown_route(self, request: web.Request) -> web.Response:
        self._record(request, f"{request.method} <unknown route>").status = 404
        return _json_response(404, {"message": "404: Not Found", "code": 0}, {})

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        record = self._record(request, "GET /attachments/{id}/{filename}")
        attachment = self.attachments.get(int(request.match_info["id"]))
        stale = attachment is not None and attachment.link_key not in (
            None,
            request.query.get("ex"),
        )
        if attachment is None or attachment.filename != request.match_info["filename"] or stale:
            record.status = 404
            return web.Response(status=404, text="Not Found")
        record.status = 200
        content_type = attachment.content_type or "application/octet-stream"
        return web.Response(body=attachment.data, headers={"Content-Type": content_type})

    def _check_uploads(self, files: Mapping[int, UploadedFile]) -> None:
        if any(len(upload.data) > self.upload_limit for upload in files.values()):
            raise DiscordHTTPError(413, 40005, "Request entity too large")
        if self.fail_uploads:
            status = self.fail_uploads.popleft()
            raise DiscordHTTPError(status, 0, f"{status}: injected upload failure")
        if self.upload_failure_rate and self._rng.random() < self.upload_failure_rate:
            self.upload_failures += 1
            raise DiscordHTTPError(502, 0, "502: Bad Gateway")

    # -- rate limits -----------------------------------------------------------------------

    def _window(self, key: tuple[Any, ...], limit: Limit) -> _Window:
        window = self._windows.setdefault(key, _Window(limit))
        window.limit = limit  # tests may change a fake's limits at any time
        return window

    def _rate_limit(self, route: str, params: Mapping[str, str], bot_auth: bool) -> dict[str, str]:
        """Count the request against its buckets; return its rate limit headers or raise 429."""
        now = self.clock()
        if bot_auth:
            retry_after = self._window(("global",), self.global_limit).hit(now)
            if retry_after is not None:
                raise self._too_many(
                    "global", retry_after, {"X-RateLimit-Global": "true"}, is_global=True
                )
        limit = self.route_limits.get(route, DEFAULT_ROUTE_LIMIT)
        major = tuple(params[name] for name in _MAJOR_PARAMETERS if name in params)
        bucket = self._window((route, major), limit)
        retry_after = bucket.hit(now)
        reset_after = max(bucket.resets_at - now, 0.0)
        headers = {
            "X-RateLimit-Limit": str(limit.count),
            "X-RateLimit-Remaining": str(limit.count - bucket.count),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(route.encode()).hexdigest()[:16],
        }
        if retry_after is None:
            edited = self._edited_message_id(route, params)
            if edited is not None:
                # A per-message limit under the route's bucket: Discord's "sub-ratelimit".
                retry_after = self._window(("edit", edited), self.message_edit_limit).hit(now)
        if retry_after is not None:
            raise self._too_many(route, retry_after, headers, is_global=False)
        return headers

    def _edited_message_id(self, route: str, params: Mapping[str, str]) -> int | None:
        if not route.startswith("PATCH "):
            return None
        if route.endswith("/@original"):
            record = self._by_token.get(params["token"])
            return record.original_message_id if record else None
        return int(params.get("mid") or params["id"])

    def _too_many(
        self, route: str, retry_after: float, headers: dict[str, str], *, is_global: bool
    ) -> DiscordHTTPError:
        self.rate_limited[route] += 1
        return DiscordHTTPError(
            429,
            0,
            "You are being rate limited.",
            extra={"retry_after": round(retry_after, 3), "global": is_global},
            headers={
                **headers,
                "Retry-After": str(math.ceil(retry_after)),
                "X-RateLimit-Scope": "global" if is_global else "user",
                # Without Via, discord.py takes a 429 for a Cloudflare ban and gives up.
                "Via": "1.1 google",
            },
        )

    # -- messages --------------------------------------------------------------------------

    def _host(
        self,
        data: bytes,
        filename: str,
        content_type: str | None,
        *,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> FakeAttachment:
        # Discord derives the type from the file itself; discord.py always sends octet-stream.
        if content_type in (None, "application/octet-stream"):
            content_type = mimetypes.guess_type(filename)[0] or content_type
        attachment_id = new_snowflake()
        url = f"{self._origin}/attachments/{attachment_id}/{filename}"
        payload: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
        }
        if content_type:
            payload["content_type"] = content_type
        if description is not None:
            payload["description"] = description
        if ephemeral:
            payload["ephemeral"] = True
        size = _image_size(data) if content_type and content_type.startswith("image/") else None
        if size is not None:
            payload["width"], payload["height"] = size
        attachment = FakeAttachment(payload, data)
        self.attachments[attachment_id] = attachment
        return attachment

    def _attachments(
        self,
        body: Mapping[str, Any],
        files: Mapping[int, UploadedFile],
        current: list[FakeAttachment],
        *,
        ephemeral: bool,
    ) -> list[FakeAttachment]:
        """The attachments a create/edit leaves: `attachments` entries name new uploads by their
        `files[N]` index and existing attachments by id; without entries, uploads are added."""
        if body.get("attachments") is None:
            return current + [
                self._host(f.data, f.filename, f.content_type, ephemeral=ephemeral)
                for f in files.values()
            ]
        existing = {attachment.id: attachment for attachment in current}
        result = []
        for index, entry in enumerate(body["attachments"]):
            key = int(entry["id"])
            if key in files:
                upload = files[key]
                filename = entry.get("filename") or upload.filename
                description = entry.get("description")
                result.append(
                    self._host(
                        upload.data,
                        filename,
                        upload.content_type,
                        description=description,
                        ephemeral=ephemeral,
                    )
                )
            elif key in existing:
                result.append(existing[key])
            else:
                raise _form_error(
                    f"attachments.{index}.id", "ATTACHMENT_NOT_FOUND", "Unknown attachment"
                )
        return result

    def _set_reference(self, message: FakeMessage, reference: Mapping[str, Any]) -> None:
        referenced = self.messages.get(int(reference["message_id"]))
        if referenced is None or referenced.deleted:
            if reference.get("fail_if_not_exists", True):
                raise _form_error(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            return
        message.type = 19  # REPLY
        message.message_reference = {
            "type": 0,
            "message_id": str(referenced.id),
            "channel_id": str(referenced.channel_id),
            **({"guild_id": str(referenced.guild_id)} if referenced.guild_id else {}),
        }

    def _create_message(
        self,
        call: _Call,
        body: Mapping[str, Any],
        *,
        channel_id: int,
        guild_id: int | None,
        flags: int | None = None,
        webhook_id: int | None = None,
        type: int = 0,
        interaction_metadata: dict[str, Any] | None = None,
    ) -> FakeMessage:
        _check_message_limits(body)
        message = FakeMessage(
            id=new_snowflake(),
            channel_id=channel_id,
            guild_id=guild_id,
            author=self.bot_user,
            created_at=self.clock(),
            content=body.get("content") or "",
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            allowed_mentions=body.get("allowed_mentions"),
            flags=(body.get("flags") or 0) if flags is None else flags,
            tts=bool(body.get("tts")),
            type=type,
            webhook_id=webhook_id,
            interaction_metadata=interaction_metadata,
        )
        if body.get("message_reference"):
            self._set_reference(message, body["message_reference"])
        message.attachments = self._attachments(body, call.files, [], ephemeral=message.ephemeral)
        self.messages[message.id] = message
        return message

    def _edit_message(self, message: FakeMessage, body: Mapping[str, Any], call: _Call) -> None:
        _check_message_limits(body)
        for key in ("content", "embeds", "components"):
            if key in body:
                setattr(message, key, body[key] or ([] if key != "content" else ""))
        if "allowed_mentions" in body:
            message.allowed_mentions = body["allowed_mentions"]
        if body.get("flags") is not None:
            # Ephemerality is fixed at creation; other flags (e.g. SUPPRESS_EMBEDS) can change.
            message.flags = (message.flags & EPHEMERAL) | (body["flags"] & ~EPHEMERAL)
        message.attachments = self._attachments(
            body, call.files, message.attachments, ephemeral=message.ephemeral
        )
        message.flags &= ~LOADING
        message.edits.append(self.clock())
        message.edited_timestamp = datetime.now(UTC).isoformat()

    def message_payload(self, message: FakeMessage) -> dict[str, Any]:
        """The message as the REST API returns it, with the message it replies to."""
        payload = message.to_payload()
        if message.message_reference is not None:
            referenced = self.messages[int(message.message_reference["message_id"])]
            payload["referenced_message"] = None if referenced.deleted else referenced.to_payload()
        return payload

    # -- login and commands ----------------------------------------------------------------

    def _get_me(self, call: _Call) -> _Reply:
        me = {
            **self.bot_user,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "flags": 0,
        }
        return 200, me

    def _get_application(self, call: _Call) -> _Reply:
        return 200, {
            "id": str(self.application_id),
            "name": "fake-bot",
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot": self.bot_user,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": {
                "id": "1",
                "username": "owner",
                "discriminator": "0",
                "global_name": None,
                "avatar": None,
                "public_flags": 0,
            },
            "team": None,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "integration_types_config": {"0": {}},
        }

    def _check_application(self, call: _Call) -> None:
        if int(call.params["app"]) != self.application_id:
            raise DiscordHTTPError(404, 10002, "Unknown Application")

    def _get_commands(self, call: _Call) -> _Reply:
        self._check_application(call)
        guild = call.params.get("guild")
        return 200, self.commands.get(int(guild) if guild else None, [])

    def _put_commands(self, call: _Call) -> _Reply:
        """Bulk overwrite: commands keep their id across syncs when name and type match."""
        self._check_application(call)
        guild = call.params.get("guild")
        scope = int(guild) if guild else None
        previous = {(c["name"], c["type"]): c["id"] for c in self.commands.get(scope, [])}
        stored = []
        for command in call.json or []:
            kind = command.get("type", 1)
            entry = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "type": kind,
                "id": previous.get((command["name"], kind)) or str(new_snowflake()),
                "application_id": str(self.application_id),
                "version": str(new_snowflake()),
            }
            if scope is not None:
                entry["guild_id"] = str(scope)
            stored.append(entry)
        self.commands[scope] = stored
        self.command_syncs[scope] += 1
        return 200, stored

    def command_id(self, name: str, kind: int = 1, guild_id: int | None = None) -> int | None:
        """The id a synced command got, looking in the guild scope first."""
        for scope in (guild_id, None):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command["type"] == kind:
                    return int(command["id"])
        return None

    # -- interactions ----------------------------------------------------------------------

    def _interaction_callback(self, call: _Call) -> _Reply:
        record = self.interactions.get(int(call.params["id"]))
        if record is None or record.token != call.params["token"]:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        if record.acknowledged:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if self.expire_next_callbacks and not record.expired:
            self.expire_next_callbacks -= 1
            record.expired = True
        if call.time - record.delivered_at > CALLBACK_WINDOW or record.expired:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")

        kind = call.json["type"]
        data = call.json.get("data") or {}
        message = self._respond(record, kind, data, call)
        record.first_response_at = call.time
        record.response_type = kind
        record.response_data = data
        if message is not None:
            record.original_message_id = message.id
        if call.query.get("with_response", "").lower() not in ("1", "true"):
            return 204, None
        interaction: dict[str, Any] = {"id": str(record.id), "type": record.type}
        reply: dict[str, Any] = {"interaction": interaction}
        if message is not None and kind != DEFERRED_UPDATE_MESSAGE:
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = bool(message.flags & LOADING)
            interaction["response_message_ephemeral"] = message.ephemeral
        if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE) and message is not None:
            reply["resource"] = {"type": kind, "message": self.message_payload(message)}
        return 200, reply

    def _respond(
        self, record: InteractionRecord, kind: int, data: dict[str, Any], call: _Call
    ) -> FakeMessage | None:
        """Apply a callback of type `kind`; return the message it is about, if any."""
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            if kind == CHANNEL_MESSAGE:
                _check_not_empty(data, call.files)
            flags = (data.get("flags") or 0) | (LOADING if kind == DEFERRED_CHANNEL_MESSAGE else 0)
            body = data if kind == CHANNEL_MESSAGE else {}
            return self._interaction_message(record, body, call, flags=flags, original=True)
        if kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            if record.message_id is None:
                raise _form_error(
                    "type", "INTERACTION_RESPONSE_TYPE_INVALID", "Only for component interactions"
                )
            message = self.messages[record.message_id]
            if kind == UPDATE_MESSAGE:
                self._edit_message(message, data, call)
            return message
        if kind == MODAL and record.type != 5:  # a modal submit cannot open another modal
            return None
        if kind == AUTOCOMPLETE_RESULT and record.type == 4:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise _form_error("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer")
            return None
        raise _form_error(
            "type", "INTERACTION_RESPONSE_TYPE_INVALID", f"Invalid callback type {kind}"
        )

    def _interaction_message(
        self,
        record: InteractionRecord,
        body: Mapping[str, Any],
        call: _Call,
        *,
        flags: int,
        original: bool,
    ) -> FakeMessage:
        message_type = 0
        if original and record.type == 2:
            chat_input = record.payload["data"].get("type", 1) == 1
            message_type = 20 if chat_input else 23  # CHAT_INPUT_COMMAND / CONTEXT_MENU_COMMAND
        return self._create_message(
            call,
            body,
            channel_id=record.channel_id or 0,
            guild_id=record.guild_id,
            flags=flags,
            webhook_id=self.application_id,
            type=message_type,
            interaction_metadata={
                "id": str(record.id),
                "type": record.type,
                "user": record.user,
                "authorizing_integration_owners": record.payload.get(
                    "authorizing_integration_owners", {}
                ),
            },
        )

    def _interaction_for_token(self, call: _Call) -> InteractionRecord:
        if int(call.params["app"]) != self.application_id:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        record = self._by_token.get(call.params["token"])
        age = call.time - record.delivered_at if record else 0.0
        # A token dies after 15 minutes, or after 3 s if the interaction went unanswered.
        lifetime = TOKEN_LIFETIME if record and record.acknowledged else CALLBACK_WINDOW
        if record is None or record.expired or age > lifetime:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        return record

    def _webhook_message(self, call: _Call) -> FakeMessage:
        record = self._interaction_for_token(call)
        message_id = call.params.get("id")
        if message_id is None:  # @original
            wanted = record.original_message_id
        elif (
            int(message_id) == record.original_message_id or int(message_id) in record.followup_ids
        ):
            wanted = int(message_id)
        else:
            wanted = None
        message = self.messages.get(wanted) if wanted is not None else None
        if message is None or message.deleted:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return message

    def _get_webhook_message(self, call: _Call) -> _Reply:
        return 200, self.message_payload(self._webhook_message(call))

    def _edit_webhook_message(self, call: _Call) -> _Reply:
        message = self._webhook_message(call)
        self._edit_message(message, call.json or {}, call)
        return 200, self.message_payload(message)

    def _delete_webhook_message(self, call: _Call) -> _Reply:
        self._webhook_message(call).deleted = True
        return 204, None

    def _followup(self, call: _Call) -> _Reply:
        record = self._interaction_for_token(call)
        if not record.acknowledged:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        body = call.json or {}
        _check_not_empty(body, call.files)
        original = self.messages.get(record.original_message_id or 0)
        if original is not None and original.flags & LOADING:
            # The first followup after a deferred response replaces the "thinking" message.
            self._edit_message(original, body, call)
            message = original
        else:
            message = self._interaction_message(
                record, body, call, flags=body.get("flags") or 0, original=False
            )
            record.followup_ids.append(message.id)
        return 200, self.message_payload(message)  # interaction followups always `wait`

    # -- channels --------------------------------------------------------------------------

    def _channel(self, call: _Call, *, needs: int = 0) -> int:
        channel_id = int(call.params["cid"])
        if channel_id not in self.channels:
            raise DiscordHTTPError(404, 10003, "Unknown Channel")
        granted = self.channel_permissions.get(channel_id)
        if granted is not None and not granted & VIEW_CHANNEL:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        if granted is not None and granted & needs != needs:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        return channel_id

    def _channel_message(self, call: _Call) -> FakeMessage:
        channel_id = self._channel(call)
        message = self.messages.get(int(call.params["mid"]))
        if message is None or message.deleted or message.channel_id != channel_id:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return message

    def _get_guild(self, call: _Call) -> _Reply:
        guild = self.guilds.get(int(call.params["gid"]))
        if guild is None:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")
        return 200, guild

    def _get_channel(self, call: _Call) -> _Reply:
        return 200, self.channels[self._channel(call)]

    def _create_channel_message(self, call: _Call) -> _Reply:
        body = call.json or {}
        needs = SEND_MESSAGES
        if call.files:
            needs |= ATTACH_FILES
        if body.get("message_reference"):
            needs |= READ_MESSAGE_HISTORY
        channel_id = self._channel(call, needs=needs)
        _check_not_empty(body, call.files)
        guild_id = self.channels[channel_id].get("guild_id")
        message = self._create_message(
            call, body, channel_id=channel_id, guild_id=int(guild_id) if guild_id else None
        )
        return 200, self.message_payload(message)

    def _get_channel_message(self, call: _Call) -> _Reply:
        return 200, self.message_payload(self._channel_message(call))

    def _edit_channel_message(self, call: _Call) -> _Reply:
        message = self._channel_message(call)
        if message.author["id"] != self.bot_user["id"]:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        if call.files:
            self._channel(call, needs=ATTACH_FILES)
        self._edit_message(message, call.json or {}, call)
        return 200, self.message_payload(message)

    def _delete_channel_message(self, call: _Call) -> _Reply:
        message = self._channel_message(call)
        if message.author["id"] != self.bot_user["id"]:
            self._channel(call, needs=MANAGE_MESSAGES)
        message.deleted = True
        return 204, None

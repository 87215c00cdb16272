"""The fake Discord API and the harness, driven end to end by a tiny real discord.py bot."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from multidict import CIMultiDictProxy
from PIL import Image

from tests.fakes.discord_harness import (
    component,
    make_guild,
    make_user,
    member_overwrite,
    message_command,
    message_create,
    modal_submit,
    running_bot,
    slash,
    text_channel,
)
from tests.fakes.fake_discord import EPHEMERAL, FakeDiscord, Limit
from tests.fakes.openapi_validation import request_body_errors

GENERAL = 500_000_000_000_000_001
NO_FILES = 500_000_000_000_000_002
GUILD = 400_000_000_000_000_001
ORIGINAL = "PATCH /webhooks/{app}/{token}/messages/@original"


def png(size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, "PNG")
    return buffer.getvalue()


class Clock:
    """Real monotonic time that a test can jump forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class DescribeModal(discord.ui.Modal, title="Describe"):
    note: discord.ui.TextInput[DescribeModal] = discord.ui.TextInput(label="Note", custom_id="note")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"noted: {self.note.value}", ephemeral=True)


class Again(discord.ui.View):
    @discord.ui.button(label="Again", custom_id="again")
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content="again!", view=None)


class TinyBot(commands.Bot):
    """Just enough bot to exercise every kind of request the fake serves."""

    def __init__(self) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=discord.Intents.default())
        self.errors: list[BaseException] = []
        self.ack_gate = asyncio.Event()
        self.edit_gate = asyncio.Event()

    async def setup_hook(self) -> None:
        tree = self.tree

        @tree.command(description="Draw a picture")
        async def draw(
            interaction: discord.Interaction,
            prompt: str,
            steps: int = 4,
            image: discord.Attachment | None = None,
        ) -> None:
            await interaction.response.defer(thinking=True)
            source = f", source {len(await image.read())} bytes" if image else ""
            embed = discord.Embed(title=prompt, description=f"{steps} steps{source}")
            embed.set_image(url="attachment://out.png")
            await interaction.edit_original_response(
                content=f"done: {prompt}",
                embed=embed,
                attachments=[discord.File(io.BytesIO(png()), "out.png")],
                view=Again(),
            )

        @tree.command(description="Say something in the channel")
        async def say(interaction: discord.Interaction, text: str) -> None:
            assert isinstance(interaction.channel, discord.TextChannel)
            await interaction.channel.send(text)
            await interaction.response.send_message("sent", ephemeral=True)

        @tree.command(description="Defer, then answer with a followup")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("later")

        @tree.command(description="Wait for the test before acknowledging and before editing")
        async def slow(interaction: discord.Interaction) -> None:
            await self.ack_gate.wait()
            await interaction.response.defer()
            await self.edit_gate.wait()
            await interaction.edit_original_response(content="slow done")

        @tree.command(description="Edit the response n times")
        async def count(interaction: discord.Interaction, n: int) -> None:
            await interaction.response.send_message("0")
            for i in range(1, n + 1):
                await interaction.edit_original_response(content=str(i))

        image = app_commands.Group(name="image", description="Image tools", guild_ids=[GUILD])

        @image.command(description="Scale an image")
        async def scale(
            interaction: discord.Interaction, factor: float, user: discord.User | None = None
        ) -> None:
            who = user.name if user else "-"
            attach = interaction.app_permissions.attach_files
            await interaction.response.send_message(
                f"{type(factor).__name__} {factor} for {who}; attach={attach}"
            )

        tree.add_command(image)

        @tree.context_menu(name="Describe")
        async def describe(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_modal(DescribeModal())

        @tree.error
        async def on_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            self.errors.append(getattr(error, "original", error))

        await tree.sync()
        await tree.sync(guild=discord.Object(GUILD))

    async def on_message(self, message: discord.Message) -> None:
        if self.user in message.mentions and message.author != self.user:
            sizes = [len(await attachment.read()) for attachment in message.attachments]
            await message.reply(f"got {sizes}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeDiscord:
    return FakeDiscord(clock=clock)


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[TinyBot]:
    tiny = TinyBot()
    async with running_bot(tiny, fake):
        assert tiny.user is not None
        no_attach = discord.Permissions(attach_files=True).value
        make_guild(
            tiny,
            fake,
            guild_id=GUILD,
            channels=[
                text_channel("general", channel_id=GENERAL),
                text_channel(
                    "no-files",
                    channel_id=NO_FILES,
                    overwrites=[member_overwrite(tiny.user.id, deny=no_attach)],
                ),
            ],
        )
        yield tiny


async def raw(
    fake: FakeDiscord,
    method: str,
    path: str,
    *,
    auth: bool = True,
    data: Any = None,
    json: Any = None,
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """A request that bypasses discord.py, to see exactly what the fake answers."""
    headers = {"Authorization": f"Bot {fake.token}"} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, fake.base_url + path, headers=headers, data=data, json=json
        ) as response,
    ):
        body = await response.json(content_type=None) if response.status != 204 else None
        return response.status, body, response.headers


async def test_login_syncs_commands_once(bot: TinyBot, fake: FakeDiscord) -> None:
    """Logging in runs setup_hook, whose global and guild syncs the fake stores and counts."""
    assert bot.user is not None and bot.user.id == int(fake.bot_user["id"])
    assert fake.command_syncs == {None: 1, GUILD: 1}
    assert [c["name"] for c in fake.commands[GUILD]] == ["image"]
    assert {c["name"] for c in fake.commands[None]} == {
        "draw",
        "say",
        "later",
        "slow",
        "count",
        "Describe",
    }
    assert fake.requests[0].route == "GET /users/@me"
    assert fake.schema_errors == []


async def test_slash_defers_then_edits_with_file_and_embed(bot: TinyBot, fake: FakeDiscord) -> None:
    """A deferred slash command's edit lands as the original response with file and embed."""
    source_bytes = png((3, 2))
    source = fake.host_attachment(source_bytes, "source.png", "image/png")
    record = await slash(
        bot,
        fake,
        "draw",
        {"prompt": "a cat", "steps": 6},
        attachments={"image": source},
        guild_id=GUILD,
        channel_id=GENERAL,
    )
    original = await fake.wait_for(
        lambda: m if (m := fake.interaction_original(record.id)) and m.edit_count else None
    )
    assert record.response_type == 5 and record.response_delay is not None
    assert record.response_delay < 3
    assert original.content == "done: a cat"
    assert original.type == 20 and original.webhook_id == fake.application_id
    assert original.embeds[0]["title"] == "a cat"
    assert original.embeds[0]["description"] == f"6 steps, source {len(source_bytes)} bytes"
    [attachment] = original.attachments
    assert (attachment.filename, attachment.content_type) == ("out.png", "image/png")
    assert (attachment.payload["width"], attachment.payload["height"]) == (8, 6)
    assert Image.open(io.BytesIO(attachment.data)).size == (8, 6)
    assert original.components[0]["components"][0]["custom_id"] == "again"
    assert fake.schema_errors == []


async def test_button_updates_the_message(bot: TinyBot, fake: FakeDiscord) -> None:
    """Clicking a view's button reaches the view, whose update edits the message in place."""
    record = await slash(bot, fake, "draw", {"prompt": "dog"}, guild_id=GUILD, channel_id=GENERAL)
    original = await fake.wait_for(
        lambda: m if (m := fake.interaction_original(record.id)) and m.components else None
    )
    # The bot registers the view once its edit returns, just after the fake recorded it.
    await fake.wait_for(lambda: bot._connection._view_store.is_message_tracked(original.id))
    click = await component(bot, fake, original.id, "again")
    await fake.wait_for(lambda: click.acknowledged)
    assert click.response_type == 7
    assert (original.content, original.components) == ("again!", [])
    assert fake.schema_errors == []


async def test_command_sends_a_channel_message(bot: TinyBot, fake: FakeDiscord) -> None:
    """A command that posts to its channel creates a bot message there, then answers ephemerally."""
    record = await slash(bot, fake, "say", {"text": "hello"}, guild_id=GUILD, channel_id=GENERAL)
    answer = await fake.wait_for(lambda: fake.interaction_original(record.id))
    assert answer.content == "sent" and answer.flags & EPHEMERAL and answer.ephemeral
    posted = [m for m in fake.messages_in(GENERAL) if m.webhook_id is None]
    assert [(m.content, m.author["id"]) for m in posted] == [("hello", fake.bot_user["id"])]
    assert fake.requests_to("POST /channels/{cid}/messages")[0].status == 200


async def test_guild_subcommand_options_typed_from_the_tree(
    bot: TinyBot, fake: FakeDiscord
) -> None:
    """A guild subcommand gets its synced id, typed options, resolved users, app_permissions."""
    alice = make_user("alice")
    record = await slash(
        bot,
        fake,
        "image scale",
        {"factor": 2, "user": alice},
        guild_id=GUILD,
        channel_id=NO_FILES,
    )
    data = record.payload["data"]
    assert data["id"] == str(fake.command_id("image", 1, GUILD))
    assert data["guild_id"] == str(GUILD)
    assert data["options"][0]["options"][0] == {"name": "factor", "type": 10, "value": 2.0}
    answer = await fake.wait_for(lambda: fake.interaction_original(record.id))
    assert answer.content == "float 2.0 for alice; attach=False"


async def test_first_followup_after_defer_fills_the_deferred_response(
    bot: TinyBot, fake: FakeDiscord
) -> None:
    """As on Discord, the first followup after a defer replaces the "thinking" message."""
    record = await slash(bot, fake, "later", guild_id=GUILD, channel_id=GENERAL)
    original = await fake.wait_for(
        lambda: m if (m := fake.interaction_original(record.id)) and m.content else None
    )
    assert original.content == "later"
    assert fake.interaction_followups(record.id) == []


async def test_context_menu_opens_modal_and_submit_answers(bot: TinyBot, fake: FakeDiscord) -> None:
    """A message context menu opens a modal; submitting it reaches the modal's on_submit."""
    target = fake.add_message(GENERAL, make_user("poster"), "hi", guild_id=GUILD)
    opened = await message_command(bot, fake, "Describe", target.id)
    await fake.wait_for(lambda: opened.acknowledged)
    assert opened.response_type == 9
    assert opened.response_data is not None and opened.response_data["custom_id"]
    submit = await modal_submit(bot, fake, opened, {"note": "nice"})
    answer = await fake.wait_for(lambda: fake.interaction_original(submit.id))
    assert answer.content == "noted: nice" and answer.ephemeral
    assert fake.schema_errors == []


async def test_message_create_gets_a_reply_that_read_the_attachment(
    bot: TinyBot, fake: FakeDiscord
) -> None:
    """MESSAGE_CREATE reaches on_message, which downloads the attachment and replies to it."""
    attachment = fake.host_attachment(b"12345", "notes.txt", None)
    assert attachment["content_type"].startswith("text/plain")
    assert bot.user is not None
    asked = await message_create(
        bot,
        fake,
        f"<@{bot.user.id}> look",
        channel_id=GENERAL,
        guild_id=GUILD,
        attachments=[attachment],
    )
    reply = await fake.wait_for(lambda: fake.messages_in(GENERAL)[1:])
    assert fake.requests_to("GET /attachments/{id}/{filename}")[0].status == 200
    assert reply[0].content == "got [5]"
    assert reply[0].message_reference is not None
    assert reply[0].message_reference["message_id"] == str(asked.id)
    assert reply[0].type == 19


async def test_expired_attachment_links_are_refused_and_refetched_fresh(
    bot: TinyBot, fake: FakeDiscord
) -> None:
    """After links expire, the CDN refuses an old URL; the message read again carries a new
    one that works."""
    attachment = fake.host_attachment(png(), "old.png", "image/png")
    posted = fake.add_message(GENERAL, make_user("someone"), "", attachments=[attachment])
    old_url = attachment["url"]
    fake.expire_attachment_links()
    async with aiohttp.ClientSession() as session:
        async with session.get(old_url) as stale:
            assert stale.status == 404
        message = await bot.get_partial_messageable(GENERAL).fetch_message(posted.id)
        fresh_url = message.attachments[0].url
        assert fresh_url != old_url
        async with session.get(fresh_url) as fresh:
            assert fresh.status == 200 and await fresh.read() == png()


async def test_late_acknowledgement_is_an_unknown_interaction(
    bot: TinyBot, fake: FakeDiscord, clock: Clock
) -> None:
    """A callback more than 3 s after delivery fails with 10062 and acknowledges nothing."""
    record = await slash(bot, fake, "slow", guild_id=GUILD, channel_id=GENERAL)
    clock.advance(3.5)
    bot.ack_gate.set()
    await fake.wait_for(lambda: bot.errors)
    assert isinstance(bot.errors[0], discord.NotFound) and bot.errors[0].code == 10062
    assert record.first_response_at is None and not record.acknowledged


async def test_interaction_token_expires_after_15_minutes(
    bot: TinyBot, fake: FakeDiscord, clock: Clock
) -> None:
    """Editing the response after the token's 15 minutes fails with 401 / 50027."""
    record = await slash(bot, fake, "slow", guild_id=GUILD, channel_id=GENERAL)
    bot.ack_gate.set()
    await fake.wait_for(lambda: record.acknowledged)
    clock.advance(15 * 60 + 1)
    bot.edit_gate.set()
    await fake.wait_for(lambda: bot.errors)
    error = bot.errors[0]
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (401, 50027)


async def test_second_callback_is_rejected(bot: TinyBot, fake: FakeDiscord) -> None:
    """Only the first callback per interaction is accepted; a second gets 400 / 40060."""
    record = await slash(bot, fake, "say", {"text": "x"}, guild_id=GUILD, channel_id=GENERAL)
    await fake.wait_for(lambda: record.acknowledged)
    status, body, _ = await raw(
        fake,
        "POST",
        f"/interactions/{record.id}/{record.token}/callback",
        auth=False,
        json={"type": 4, "data": {"content": "again"}},
    )
    assert (status, body["code"]) == (400, 40060)
    assert body["message"] == "Interaction has already been acknowledged."


async def test_injected_upload_failure_is_retried(bot: TinyBot, fake: FakeDiscord) -> None:
    """A 500 injected on the next upload makes discord.py retry, and the retry succeeds."""
    fake.fail_uploads.append(500)
    record = await slash(bot, fake, "draw", {"prompt": "x"}, guild_id=GUILD, channel_id=GENERAL)
    await fake.wait_for(
        lambda: [r for r in fake.requests_to(ORIGINAL) if r.status == 200], timeout=4
    )
    assert [r.status for r in fake.requests_to(ORIGINAL)] == [500, 200]
    original = fake.interaction_original(record.id)
    assert original is not None and len(original.attachments) == 1


async def test_upload_over_the_limit_is_refused(bot: TinyBot, fake: FakeDiscord) -> None:
    """A file larger than the upload limit gets 413 / 40005, which the bot sees as an error."""
    fake.upload_limit = 16  # the bot uploads a ~70-byte PNG
    await slash(bot, fake, "draw", {"prompt": "x"}, guild_id=GUILD, channel_id=GENERAL)
    await fake.wait_for(lambda: bot.errors)
    error = bot.errors[0]
    assert isinstance(error, discord.HTTPException) and (error.status, error.code) == (413, 40005)


async def test_channel_permissions_and_message_limits(bot: TinyBot, fake: FakeDiscord) -> None:
    """Channel routes enforce Attach Files overwrites and the 2000-character content limit."""
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", '{"content": "file"}')
    form.add_field("files[0]", b"abc", filename="a.txt")
    status, body, _ = await raw(fake, "POST", f"/channels/{NO_FILES}/messages", data=form)
    assert (status, body["code"]) == (403, 50013)
    status, body, _ = await raw(
        fake, "POST", f"/channels/{GENERAL}/messages", json={"content": "x" * 2001}
    )
    assert (status, body["code"]) == (400, 50035)
    assert body["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    embed = {"description": "d" * 4097}
    status, body, _ = await raw(
        fake, "POST", f"/channels/{GENERAL}/messages", json={"embeds": [embed]}
    )
    assert (status, body["code"]) == (400, 50035)
    assert "description" in body["errors"]["embeds"]["0"]


async def test_patch_attachments_keep_retained_ids(bot: TinyBot, fake: FakeDiscord) -> None:
    """A PATCH listing one old attachment plus a new file keeps the old id and adds the new."""
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", '{"content": "two"}')
    form.add_field("files[0]", b"one", filename="one.txt")
    form.add_field("files[1]", b"two", filename="two.txt")
    status, created, _ = await raw(fake, "POST", f"/channels/{GENERAL}/messages", data=form)
    assert status == 200 and len(created["attachments"]) == 2
    kept = created["attachments"][1]["id"]
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", f'{{"attachments": [{{"id": "{kept}"}}, {{"id": 0}}]}}')
    form.add_field("files[0]", b"three", filename="three.txt")
    path = f"/channels/{GENERAL}/messages/{created['id']}"
    status, edited, _ = await raw(fake, "PATCH", path, data=form)
    assert status == 200
    assert [a["filename"] for a in edited["attachments"]] == ["two.txt", "three.txt"]
    assert edited["attachments"][0]["id"] == kept
    message = fake.messages[int(created["id"])]
    assert [a.data for a in message.attachments] == [b"two", b"three"]
    assert len(fake.edits_of(message.id)) == 1


async def test_unknown_route_auth_and_content_type(bot: TinyBot, fake: FakeDiscord) -> None:
    """Unknown routes get Discord's JSON 404 as exactly application/json; bad tokens get 401."""
    status, body, headers = await raw(fake, "GET", "/no/such/route")
    assert status == 404 and set(body) == {"message", "code"}
    assert headers["Content-Type"] == "application/json"
    status, body, _ = await raw(fake, "GET", "/users/@me", auth=False)
    assert status == 401


async def test_schema_validation_reports_invalid_bodies(bot: TinyBot, fake: FakeDiscord) -> None:
    """Bodies that break the OpenAPI spec are reported; valid ones are not."""
    callback = "/interactions/{interaction_id}/{interaction_token}/callback"
    assert request_body_errors("POST", callback, {"type": 4, "data": {"content": "ok"}}) == []
    assert request_body_errors("POST", callback, {"type": 4, "data": {"content": 5}}) == [
        "$.data.content: 5 is not of type 'string', 'null'"
    ]
    assert request_body_errors("POST", callback, {"type": 99})
    assert request_body_errors("PATCH", "/channels/1/messages/2", {"content": "ok"}) == []
    await raw(fake, "POST", f"/channels/{GENERAL}/messages", json={"content": 5})
    assert fake.schema_errors == [
        "POST /channels/{cid}/messages: $.content: 5 is not of type 'string', 'null'"
    ]


async def test_rate_limits_are_served_and_survived(bot: TinyBot, fake: FakeDiscord) -> None:
    """With rate limits on, 429s carry Discord's headers and body, and discord.py retries."""
    fake.rate_limits = True
    fake.message_edit_limit = Limit(2, 0.3)
    record = await slash(bot, fake, "count", {"n": 4}, guild_id=GUILD, channel_id=GENERAL)
    await fake.wait_for(
        lambda: (m := fake.interaction_original(record.id)) and m.content == "4", timeout=4
    )
    assert fake.rate_limited[ORIGINAL] >= 1
    assert fake.interaction_original(record.id).edit_count == 4  # type: ignore[union-attr]
    status, _, headers = await raw(fake, "GET", "/users/@me")
    assert status == 200 and {"X-RateLimit-Bucket", "X-RateLimit-Remaining"} <= set(headers)
    fake.global_limit = Limit(1, 10.0)
    await raw(fake, "GET", "/users/@me")
    status, body, headers = await raw(fake, "GET", "/users/@me")
    assert status == 429 and body["global"] is True and body["retry_after"] > 0
    assert headers["Via"] and headers["X-RateLimit-Scope"] == "global"
    assert fake.rate_limited["global"] >= 1


async def test_close_restores_discord_base_urls(fake: FakeDiscord) -> None:
    """Leaving running_bot restores discord.py's Route.BASE."""
    before = discord.http.Route.BASE
    async with running_bot(TinyBot(), fake):
        assert fake.base_url == discord.http.Route.BASE
        assert fake.base_url == discord.webhook.async_.Route.BASE  # type: ignore[attr-defined]
    assert before == discord.http.Route.BASE

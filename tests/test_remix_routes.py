"""Image-to-image from a message: the "Imagine from image" menu and @mention replies."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.discord_harness import (
    make_user,
    message_command,
    message_create,
    modal_submit,
    slash,
)
from tests.fakes.fake_discord import FakeMessage
from tests.world import GENERAL, GUILD_ID, World, png_bytes, running_world

ARTIST = make_user("artist", user_id=100_000_000_000_000_002)


async def post_image(world: World, content: str = "look at my cat") -> int:
    picture = world.discord.host_attachment(png_bytes(), "cat.png", "image/png")
    message = world.discord.add_message(
        GENERAL, ARTIST, content, guild_id=GUILD_ID, attachments=[picture]
    )
    return message.id


async def test_context_menu_opens_a_modal_then_remixes(world: World) -> None:
    """The menu asks for a prompt and strength, then posts the remix of that message's image."""
    target = await post_image(world)
    opened = await message_command(world.bot, world.discord, "Imagine from image", target)
    await world.discord.wait_for(lambda: opened.acknowledged)
    assert opened.response_type == 9  # a modal

    submitted = await modal_submit(
        world.bot, world.discord, opened, {"prompt": "in neon", "strength": "0.4"}
    )
    message = await world.settled(submitted)

    body = world.api.submissions[-1]
    picture = world.discord.messages[target].attachments[0]
    assert body["image"] == picture.payload["url"] and body["strength"] == 0.4
    assert body["prompt"] == "in neon"
    assert world.decoded(message).size == (1024, 1024)


async def test_context_menu_on_a_message_without_an_image(world: World) -> None:
    """A message with no picture gets a short private explanation and no modal."""
    plain = world.discord.add_message(GENERAL, ARTIST, "just words", guild_id=GUILD_ID)
    record = await message_command(world.bot, world.discord, "Imagine from image", plain.id)
    await world.discord.wait_for(lambda: record.acknowledged)
    assert record.response_data is not None
    assert record.response_type == 4 and record.response_data["flags"] & 64
    assert "no image" in record.response_data["content"]


async def test_context_menu_refuses_a_bad_strength(world: World) -> None:
    """A strength that is not 0 to 1 in tenths is refused privately; nothing is spent."""
    target = await post_image(world)
    opened = await message_command(world.bot, world.discord, "Imagine from image", target)
    await world.discord.wait_for(lambda: opened.acknowledged)
    submitted = await modal_submit(
        world.bot, world.discord, opened, {"prompt": "in neon", "strength": "7"}
    )
    await world.discord.wait_for(lambda: submitted.acknowledged)
    assert submitted.response_data is not None
    assert submitted.response_data["flags"] & 64
    assert "Strength goes from 0 to 1" in submitted.response_data["content"]
    assert world.api.requests["submit"] == 0


async def test_mention_in_reply_to_an_image_replies_with_the_remix(world: World) -> None:
    """@bot with a prompt, replying to an image: the result is a reply to that image's message."""
    target = await post_image(world)
    assert world.bot.user is not None
    bot_id = world.bot.user.id
    await message_create(
        world.bot,
        world.discord,
        f"<@{bot_id}> make it a watercolour",
        channel_id=GENERAL,
        guild_id=GUILD_ID,
        reply_to=target,
    )

    def result() -> list[FakeMessage]:
        return [
            m
            for m in world.discord.messages_in(GENERAL)
            if m.author["id"] == str(bot_id) and m.attachments
        ]

    [reply] = await world.discord.wait_for(result, timeout=10)
    assert reply.message_reference is not None
    assert reply.message_reference["message_id"] == str(target)
    assert world.api.submissions[-1]["prompt"] == "make it a watercolour"
    assert world.api.submissions[-1]["image"].endswith("cat.png")
    assert reply.edit_count >= 1  # it was posted as "Queued" and edited into the result


async def test_mention_with_its_own_image(world: World) -> None:
    """@bot with a prompt and an attached picture remixes that picture, replying to it."""
    picture = world.discord.host_attachment(png_bytes(), "dog.png", "image/png")
    assert world.bot.user is not None
    sent = await message_create(
        world.bot,
        world.discord,
        f"<@{world.bot.user.id}> as a pencil sketch",
        channel_id=GENERAL,
        guild_id=GUILD_ID,
        attachments=[picture],
    )

    def result() -> list[FakeMessage]:
        return [
            m for m in world.discord.messages_in(GENERAL) if m.message_reference and m.attachments
        ]

    [reply] = await world.discord.wait_for(result, timeout=10)
    assert reply.message_reference is not None
    assert reply.message_reference["message_id"] == str(sent.id)
    assert world.api.submissions[-1]["image"] == picture["url"]


async def test_mention_without_an_image_explains_and_spends_nothing(world: World) -> None:
    """A mention with no image to work from gets a one-line hint and costs nothing."""
    assert world.bot.user is not None
    await message_create(
        world.bot,
        world.discord,
        f"<@{world.bot.user.id}> hello there",
        channel_id=GENERAL,
        guild_id=GUILD_ID,
    )

    def hint() -> list[FakeMessage]:
        return [m for m in world.discord.messages_in(GENERAL) if m.content.startswith("❌")]

    [reply] = await world.discord.wait_for(hint, timeout=5)
    assert "/imagine" in reply.content
    assert world.api.requests["submit"] == 0


async def test_dms_are_refused_unless_allowed(tmp_path: Path) -> None:
    """/imagine in a DM is refused by default; the command is registered for servers only."""
    async with running_world(tmp_path) as world:
        [command] = [c for c in world.discord.commands[None] if c["name"] == "imagine"]
        assert command["contexts"] == [0]  # guild only
        record = await slash(
            world.bot,
            world.discord,
            "imagine",
            {"prompt": "a fox"},
            guild_id=None,
            channel_id=GENERAL,
        )
        await world.discord.wait_for(lambda: record.acknowledged)
        assert record.response_data is not None
        assert "servers" in record.response_data["content"]
        assert world.api.requests["submit"] == 0

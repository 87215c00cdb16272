"""/gallery and /show, end to end: pages of delivered results linking to their messages, and a
past result posted again with working buttons, at no cost."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from tests.fakes.discord_harness import (
    DEFAULT_USER,
    component,
    make_guild,
    member_overwrite,
    message_delete,
    role_overwrite,
    text_channel,
)
from tests.fakes.fake_discord import FakeMessage, InteractionRecord
from tests.test_restart import STRANGER, button_ids, click
from tests.test_result_actions import job_id_of, result_url
from tests.world import GUILD_ID, World, bot_world, started_fakes

SECRET = 500_000_000_000_000_009
MANAGE_SERVER = 1 << 5
VIEW_CHANNEL = 1 << 10
LINK = re.compile(r"\]\(https://discord\.com/channels/(\d+)/(\d+)/(\d+)\)")


async def made(world: World, count: int, **options: Any) -> list[FakeMessage]:
    """`count` results, made at once."""
    records = [
        await world.imagine(prompt=f"picture {n}", size="512*512", **options) for n in range(count)
    ]
    return list(await asyncio.gather(*(world.settled(record, within=30) for record in records)))


def linked(page: dict[str, Any]) -> list[int]:
    """The message ids a gallery page links to, in order; each link names this server and
    the message's own channel."""
    [embed] = page["embeds"]
    found = LINK.findall(embed["description"])
    return [int(message) for guild, _, message in found if int(guild) == GUILD_ID]


def page_buttons(message: FakeMessage) -> dict[str, dict[str, Any]]:
    return {button["label"]: button for row in message.components for button in row["components"]}


async def gallery(world: World, **options: Any) -> tuple[InteractionRecord, FakeMessage]:
    record = await world.command("gallery", **options)
    await world.discord.wait_for(lambda: record.acknowledged)
    assert record.response_type == 4 and record.original_message_id is not None
    message = world.discord.messages[record.original_message_id]
    assert message.ephemeral
    return record, message


async def test_gallery_pages_ten_at_a_time_linking_to_results(world: World) -> None:
    """12 results of mine and one of a stranger's: /gallery shows my 10 newest, each linking
    to its result message; Next shows the last 2 and cannot go further; Previous goes back."""
    mine = await made(world, 12)
    await made(world, 1, as_user=STRANGER)
    newest_first = [result.id for result in sorted(mine, key=job_id_of, reverse=True)]
    for result in mine:
        assert world.discord.messages[result.id].attachments  # the links' targets hold images

    _, message = await gallery(world)
    assert linked(world.discord.message_payload(message)) == newest_first[:10]
    buttons = page_buttons(message)
    assert buttons["◀ Previous"].get("disabled") and not buttons["Next ▶"].get("disabled")

    turned = await component(world.bot, world.discord, message.id, buttons["Next ▶"]["custom_id"])
    await world.discord.wait_for(lambda: turned.acknowledged)
    assert turned.response_type == 7  # the same private message, edited
    assert linked(world.discord.message_payload(message)) == newest_first[10:]
    buttons = page_buttons(message)
    assert buttons["Next ▶"].get("disabled") and not buttons["◀ Previous"].get("disabled")

    back = await component(world.bot, world.discord, message.id, buttons["◀ Previous"]["custom_id"])
    await world.discord.wait_for(lambda: back.acknowledged)
    assert linked(world.discord.message_payload(message)) == newest_first[:10]


async def test_gallery_pages_turn_after_a_restart(tmp_path: Path) -> None:
    """The page buttons carry their page: Next on a gallery opened before a restart works in
    the next bot instance."""
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(tmp_path, fake_api, fake_discord) as first:
            await made(first, 11)
            _, message = await gallery(first)
        assert len(linked(fake_discord.message_payload(message))) == 10
        async with bot_world(tmp_path, fake_api, fake_discord) as second:
            next_page = page_buttons(message)["Next ▶"]["custom_id"]
            turned = await component(second.bot, fake_discord, message.id, next_page)
            await fake_discord.wait_for(lambda: turned.acknowledged)
            assert turned.response_type == 7
            assert len(linked(fake_discord.message_payload(message))) == 1
        assert fake_discord.schema_errors == []


async def test_gallery_of_the_server_shows_everyones(world: World) -> None:
    """server:True lists the stranger's result too, naming who made each; without it, a
    member with one result gets one page and no buttons."""
    [mine] = await made(world, 1)
    [theirs] = await made(world, 1, as_user=STRANGER)
    _, server = await gallery(world, server=True)
    assert linked(world.discord.message_payload(server)) == [theirs.id, mine.id]
    assert f"<@{STRANGER['id']}>" in server.embeds[0]["description"]

    _, own = await gallery(world, as_user=STRANGER)
    assert linked(world.discord.message_payload(own)) == [theirs.id]
    assert own.components == []


async def test_gallery_of_the_server_hides_channels_the_member_cannot_see(world: World) -> None:
    """A result made in a channel hidden from @everyone (the server's owner made it there) is
    not listed for a member who cannot see that channel, and /show refuses it to them."""
    assert world.bot.user is not None
    hidden = text_channel(
        "secret",
        channel_id=SECRET,
        overwrites=[
            role_overwrite(GUILD_ID, deny=VIEW_CHANNEL),
            member_overwrite(world.bot.user.id, allow=VIEW_CHANNEL),
        ],
    )
    guild = world.bot.get_guild(GUILD_ID)
    assert guild is not None
    channels = [world.discord.channels[channel.id] for channel in guild.text_channels]
    make_guild(
        world.bot,
        world.discord,
        guild_id=GUILD_ID,
        channels=[*channels, hidden],
        owner_id=int(DEFAULT_USER["id"]),
    )
    [secret] = await made(world, 1, channel_id=SECRET)
    [public] = await made(world, 1)

    _, listed = await gallery(world, server=True, as_user=STRANGER)
    assert linked(world.discord.message_payload(listed)) == [public.id]
    _, owners = await gallery(world, server=True)
    assert linked(world.discord.message_payload(owners)) == [public.id, secret.id]
    refused = await world.command("show", job=job_id_of(secret), as_user=STRANGER)
    await world.discord.wait_for(lambda: refused.acknowledged)
    assert refused.response_data is not None and refused.response_data["flags"] & 64
    assert "can't see" in refused.response_data["content"]


async def test_show_reposts_with_live_buttons_at_no_cost(world: World) -> None:
    """/show posts the same image again with its details and buttons, read afresh from the
    result's message (its old link has expired): no API request, nothing charged. A button
    on the repost works from the repost's image."""
    [result] = await made(world, 1)
    job_id = job_id_of(result)
    world.discord.expire_attachment_links()
    api_calls, charged = (
        sum(world.api.requests.values()),
        await world.database.total_charged_cents(),
    )

    shown = await world.settled(await world.command("show", job=job_id, as_user=STRANGER))
    assert shown.attachments[0].data == result.attachments[0].data
    assert shown.id != result.id and not shown.ephemeral
    assert f"Job {job_id}, shown again by <@{STRANGER['id']}>" in shown.content
    assert job_id_of(shown) == job_id
    assert shown.embeds[0]["image"]["url"] == f"attachment://{shown.attachments[0].filename}"
    assert set(button_ids(shown)) == set(button_ids(result))
    assert sum(world.api.requests.values()) == api_calls
    assert await world.database.total_charged_cents() == charged

    varied = await world.settled(await click(world, shown.id, button_ids(shown)["Vary (Subtle)"]))
    assert varied.attachments
    assert world.api.submissions[-1]["image"] == result_url(shown)
    assert world.api.submissions[-1]["prompt"] == "picture 0"


async def test_show_follows_the_rules_of_a_new_image(world: World) -> None:
    """Under the spoiler policy an image shown again is a spoiler kept out of its embed; once
    its prompt holds a blocked word, it is not shown again at all."""
    [result] = await made(world, 1)
    await world.answered(
        await world.command("limits set", permissions=MANAGE_SERVER, spoilers="spoiler")
    )
    shown = await world.settled(await world.command("show", job=job_id_of(result)))
    assert shown.attachments[0].filename.startswith("SPOILER_")
    assert "image" not in shown.embeds[0] and job_id_of(shown) == job_id_of(result)

    await world.answered(
        await world.command("limits blocked add", permissions=MANAGE_SERVER, term="picture")
    )
    refused = await world.answered(await world.command("show", job=job_id_of(result)))
    assert refused["flags"] & 64 and "blocked" in refused["content"]


async def test_show_a_deleted_result_says_so_privately(world: World) -> None:
    """Once its message is deleted, /show says the image is gone, privately, and spends
    nothing."""
    [result] = await made(world, 1)
    await click(world, result.id, button_ids(result)["Delete"])
    await world.discord.wait_for(lambda: world.discord.messages[result.id].deleted)
    api_calls = sum(world.api.requests.values())

    record = await world.command("show", job=job_id_of(result))
    await world.discord.wait_for(lambda: record.acknowledged)
    assert record.response_data is not None and record.response_data["flags"] & 64
    assert "deleted" in record.response_data["content"]
    assert sum(world.api.requests.values()) == api_calls


async def test_a_deleted_result_leaves_the_gallery(world: World) -> None:
    """When Discord reports a result's message deleted (a moderator removed it), the gallery
    stops listing it and /show says it was deleted."""
    first, second = await made(world, 2)
    await message_delete(world.bot, world.discord, first.id)
    for _ in range(200):  # the listener writes the ledger in a task of its own
        job = await world.database.get_job(job_id_of(first))
        if job is not None and job.result_message is None:
            break
        await asyncio.sleep(0.01)

    _, page = await gallery(world)
    assert linked(world.discord.message_payload(page)) == [second.id]
    record = await world.command("show", job=job_id_of(first))
    await world.discord.wait_for(lambda: record.acknowledged)
    assert record.response_data is not None and "deleted" in record.response_data["content"]


async def test_show_refuses_a_job_that_is_not_a_result_here(world: World) -> None:
    """An unknown job number gets one short private sentence."""
    record = await world.command("show", job=987654)
    await world.discord.wait_for(lambda: record.acknowledged)
    assert record.response_data is not None and record.response_data["flags"] & 64
    assert "no finished image with that job number" in record.response_data["content"]

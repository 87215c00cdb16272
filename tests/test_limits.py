"""Moderator limits, enforced before any money is spent, through the real bot end to end."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image

from tests.fakes.discord_harness import make_role, make_user
from tests.fakes.fake_vibedream import Fault, Outcome
from tests.world import EXEMPT_ROLE, GENERAL, MOD_LOG, World

MANAGE_SERVER = 1 << 5


async def set_limits(world: World, **options: Any) -> dict[str, Any]:
    record = await world.command("limits set", permissions=MANAGE_SERVER, **options)
    return await world.answered(record)


async def refused(world: World, **options: Any) -> str:
    """Run /imagine expecting a private refusal; returns its text."""
    answer = await world.answered(await world.imagine(**options))
    assert answer["flags"] & 64, answer
    text: str = answer["content"]
    return text


async def made(world: World, channel_id: int = GENERAL, **options: Any) -> None:
    message = await world.settled(await world.imagine(channel_id, **options))
    assert message.attachments, message.content


async def test_daily_image_limit_refuses_at_the_boundary(world: World) -> None:
    """With 2 images a day, the third is refused privately, saying when it resets; no API call."""
    await set_limits(world, user_daily_images=2)
    await made(world, prompt="one")
    await made(world, prompt="two")
    text = await refused(world, prompt="three")
    assert "2 images for today" in text and "resets <t:" in text
    assert world.api.requests["submit"] == 2


async def test_cooldown_refuses_until_it_has_passed(world: World) -> None:
    """A second image inside the cooldown is refused with the moment it ends."""
    await set_limits(world, user_cooldown_seconds=600)
    await made(world, prompt="one")
    text = await refused(world, prompt="two")
    assert "600s cooldown" in text and "<t:" in text
    assert world.api.requests["submit"] == 1


async def test_concurrency_limit_refuses_while_one_is_in_progress(world: World) -> None:
    """With one image in progress allowed, a second while the first runs is refused."""
    await set_limits(world, user_max_concurrent=1)
    world.api.plan(Outcome(generation_time=1.5, estimated_time="1-2s"))
    first = await world.imagine(prompt="slow one")
    await world.discord.wait_for(lambda: world.api.requests["submit"] == 1)
    text = await refused(world, prompt="two")
    assert "in progress" in text
    await world.settled(first)
    await made(world, prompt="three")  # free again once the first finished


@pytest.mark.parametrize(
    ("option", "expected"),
    [("guild_daily_budget_cents", "budget for today"), ("guild_monthly_budget_cents", "month")],
)
async def test_server_budgets_refuse_the_job_that_would_exceed_them(
    world: World, option: str, expected: str
) -> None:
    """A budget of 2 cents at 1 cent an image allows exactly 2 images, for everyone."""
    await set_limits(world, **{option: 2})
    await made(world, prompt="one")
    await made(world, prompt="two", as_user=make_user("other", user_id=42))
    text = await refused(world, prompt="three")
    assert expected in text and "resets <t:" in text
    assert world.api.billed_cents == 2


async def test_exempt_role_skips_member_limits(world: World) -> None:
    """A member with the exempt role is not held to the per-member limit."""
    await set_limits(world, user_daily_images=1)
    await world.answered(
        await world.command(
            "limits exempt-role",
            permissions=MANAGE_SERVER,
            role=make_role("trusted", role_id=EXEMPT_ROLE),
        )
    )
    for prompt in ("one", "two", "three"):
        await made(world, prompt=prompt, roles=(EXEMPT_ROLE,))
    assert world.api.requests["submit"] == 3


@pytest.mark.parametrize("limit", ["user_daily_images", "guild_daily_budget_cents"])
async def test_twenty_at_once_against_a_limit_of_five_submit_exactly_five(
    world: World, limit: str
) -> None:
    """Twenty concurrent requests at a limit of 5: exactly 5 reach the API, 15 are refused."""
    await set_limits(world, **{limit: 5})
    records = await asyncio.gather(*(world.imagine(prompt=f"rush {n}") for n in range(20)))
    answers = await asyncio.gather(*(world.answered(record) for record in records))
    refusals = [answer for answer in answers if answer.get("flags", 0) & 64]
    assert len(refusals) == 15
    await asyncio.gather(
        *(world.settled(r) for r, a in zip(records, answers, strict=True) if a not in refusals)
    )
    assert world.api.requests["submit"] == 5 and world.api.billed_cents == 5


async def test_limits_set_is_refused_without_manage_server(world: World) -> None:
    """Even if an admin let everyone see /limits, a member without Manage Server is refused."""
    record = await world.command("limits set", user_daily_images=0)  # no Manage Server
    answer = await world.answered(record)
    assert answer["flags"] & 64 and "Manage Server" in answer["content"]
    assert record.guild_id is not None
    settings = (await world.database.load_guild_config(record.guild_id)).settings
    assert settings.user_daily_images is None


async def test_limits_commands_default_to_manage_server(world: World) -> None:
    """The /limits group is registered for Manage Server members only, and not in DMs."""
    [limits] = [c for c in world.discord.commands[None] if c["name"] == "limits"]
    assert int(limits["default_member_permissions"]) == MANAGE_SERVER
    assert limits["contexts"] == [0]


async def test_blocked_words_refuse_whole_words_only(world: World) -> None:
    """A blocked word refuses prompts that contain it whole, in any case, and no other."""
    await world.answered(
        await world.command("limits blocked add", permissions=MANAGE_SERVER, term="Cat")
    )
    text = await refused(world, prompt="a CAT on a mat")
    assert "“cat”" in text and "blocked" in text
    await made(world, prompt="a category of dogs")
    assert world.api.requests["submit"] == 1


async def test_channels_list_limits_where_imagine_works(world: World) -> None:
    """Once a channel is listed, /imagine elsewhere is refused with a pointer to it."""
    await world.answered(
        await world.command(
            "limits channels add", permissions=MANAGE_SERVER, channel=world.channel(MOD_LOG)
        )
    )
    text = await refused(world, prompt="a fox")
    assert f"<#{MOD_LOG}>" in text
    await made(world, MOD_LOG, prompt="a fox")


async def test_the_moderation_log_receives_each_generation(world: World) -> None:
    """With a log channel set, each generation is recorded there: who, prompt, a link."""
    await world.answered(
        await world.command(
            "limits log-channel", permissions=MANAGE_SERVER, channel=world.channel(MOD_LOG)
        )
    )
    record = await world.imagine(prompt="a heron @everyone")
    result = await world.settled(record)
    [entry] = await world.discord.wait_for(lambda: world.discord.messages_in(MOD_LOG))
    [embed] = entry.embeds
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert embed["description"] == "a heron @everyone"
    assert fields["Member"] == f"<@{record.user['id']}>"
    assert str(result.id) in fields["Result"]
    assert entry.allowed_mentions == {"parse": []}


async def test_timezone_is_shown_and_invalid_ones_refused(world: World) -> None:
    """/limits set timezone changes when days reset; an unknown zone is refused."""
    answer = await set_limits(world, timezone="Europe/Paris")
    assert "midnight **Europe/Paris**" in answer["embeds"][0]["description"]
    answer = await set_limits(world, timezone="Mars/Olympus")
    assert "not a time zone" in answer["content"]


async def test_usage_matches_the_provider_billing_to_the_cent(world: World) -> None:
    """After successes and failures of every kind, /usage shows what the API billed."""
    world.api.cost_cents = 3
    await made(world, prompt="fine")
    world.api.plan(Outcome(status="failed"))  # billed, no image
    await world.settled(await world.imagine(prompt="flagged"))
    world.api.inject("submit", Fault("drop"))  # billed, answer lost
    await world.settled(await world.imagine(prompt="dropped"))
    world.api.inject("submit", Fault("status", 500, after_effect=False))  # not billed
    await world.settled(await world.imagine(prompt="refused"))
    await made(world, prompt="fine again", as_user=make_user("other", user_id=42))

    record = await world.command("usage", permissions=MANAGE_SERVER, server=True)
    answer = await world.answered(record)
    [embed] = answer["embeds"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    billed = world.api.billed_cents
    assert billed == 12
    assert fields["All time"] == f"2 images · ${billed / 100:.2f}"
    assert await world.database.total_charged_cents() == billed

    original = world.discord.interaction_original(record.id)
    assert original is not None
    [chart] = original.attachments
    with Image.open(io.BytesIO(chart.data)) as image:
        assert image.format == "PNG" and image.size[0] > 500
    assert embed["image"]["url"] == "attachment://usage.png"


async def test_member_usage_shows_what_is_left_and_when_it_resets(world: World) -> None:
    """A member sees their own totals and the remaining images, with the reset time."""
    await set_limits(world, user_daily_images=5)
    await made(world, prompt="one")
    answer = await world.answered(await world.command("usage"))
    [embed] = answer["embeds"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Today"] == "1 images · $0.01"
    assert fields["Images today"].startswith("4 left of 5 · resets <t:")


async def test_only_moderators_see_someone_elses_usage(world: World) -> None:
    """/usage member:… is refused without Manage Server."""
    answer = await world.answered(
        await world.command("usage", member=make_user("other", user_id=42))
    )
    assert answer["flags"] & 64 and "Manage Server" in answer["content"]


async def test_server_defaults_apply_when_a_member_picks_none(world: World) -> None:
    """/limits defaults sets the size and format /imagine uses when none is chosen."""
    answer = await world.answered(
        await world.command(
            "limits defaults", permissions=MANAGE_SERVER, size="768*1024", format="webp"
        )
    )
    assert "768×1024, WEBP" in str(answer["embeds"][0]["fields"])
    message = await world.settled(await world.imagine(prompt="a tall heron"))
    image = world.decoded(message)
    assert (image.format, image.size) == ("WEBP", (768, 1024))

"""/imagine end to end: discord.py's real CommandTree and HTTP clients against the local fakes."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from bot.core.requests import SIZES
from tests.fakes.fake_discord import FakeMessage
from tests.fakes.fake_vibedream import Fault, Outcome
from tests.world import GENERAL, NO_FILES, World, png_bytes, running_world

PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def embed_fields(message) -> dict[str, str]:
    [embed] = message.embeds
    return {field["name"]: field["value"] for field in embed["fields"]}


async def test_plain_command_posts_the_image_with_its_details(world: World) -> None:
    """A prompt alone: a public deferral at once, then the image and an embed with its details."""
    record = await world.imagine(prompt="a lighthouse at dusk")
    message = await world.settled(record)

    assert record.response_type == 5 and not (record.response_data or {}).get("flags")
    assert record.response_delay is not None and record.response_delay < 3
    image = world.decoded(message)
    assert (image.format, image.size) == ("JPEG", (1024, 1024))
    assert message.attachments[0].filename.endswith(".jpg")
    [embed] = message.embeds
    assert embed["description"] == "a lighthouse at dusk"
    assert embed["image"]["url"] == f"attachment://{message.attachments[0].filename}"
    fields = embed_fields(message)
    assert fields["Size"] == "1024×1024" and fields["Format"] == "JPEG"
    assert fields["Cost"] == "$0.01"
    assert message.content == ""


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("output_format", ["jpeg", "png", "webp"])
async def test_every_size_and_format(world: World, size: str, output_format: str) -> None:
    """The posted file decodes to exactly the size and format chosen."""
    record = await world.imagine(prompt="a fox", size=size, format=output_format)
    image = world.decoded(await world.settled(record))
    width, height = (int(n) for n in size.split("*"))
    assert (image.format, image.size) == (PILLOW_FORMATS[output_format], (width, height))


async def test_a_given_seed_is_forwarded_and_shown(world: World) -> None:
    """seed=1234 reaches the API unchanged and is shown."""
    message = await world.settled(await world.imagine(prompt="a fox", seed=1234))
    assert world.api.submissions[-1]["seed"] == 1234
    assert embed_fields(message)["Seed"] == "`1234`"


async def test_a_random_seed_is_picked_sent_and_shown(world: World) -> None:
    """seed=-1 is replaced by a concrete seed, so the result can be made again."""
    message = await world.settled(await world.imagine(prompt="a fox", seed=-1))
    sent = world.api.submissions[-1]["seed"]
    assert sent != -1
    assert embed_fields(message)["Seed"] == f"`{sent}`"


async def test_image_option_makes_an_image_to_image_job(world: World) -> None:
    """An attached reference is sent as `image` with the strength, and shown in the embed."""
    reference = world.discord.host_attachment(png_bytes(), "cat.png", "image/png")
    record = await world.imagine(prompt="as a watercolour", strength=0.3, image=reference)
    message = await world.settled(record)

    body = world.api.submissions[-1]
    assert body["image"] == reference["url"] and body["strength"] == 0.3
    [prediction] = world.api.predictions.values()
    assert prediction.reference_format == "PNG"  # the provider could fetch it
    fields = embed_fields(message)
    assert fields["Strength"] == "0.3" and reference["url"] in fields["Reference"]


async def test_prompt_text_is_escaped_and_pings_nobody(world: World) -> None:
    """Markdown in the prompt is escaped; @everyone and role mentions in it ping nobody."""
    prompt = "@everyone <@&123456789012345678> **bold** cat"
    message = await world.settled(await world.imagine(prompt=prompt))
    [embed] = message.embeds
    assert "\\*\\*bold\\*\\*" in embed["description"]
    # The fixture checks allowed_mentions on every body; this one carried the text.
    assert message.allowed_mentions is not None and message.allowed_mentions["parse"] == []


async def test_progress_is_shown_and_edits_are_coalesced(world: World) -> None:
    """A 6 s generation shows a progress bar from 1.5 s on, in 2 to 4 edits before the
    result, none of them telling nothing new."""
    world.api.plan(Outcome(generation_time=6.0, estimated_time="5-7s"))
    record = await world.imagine(prompt="a slow painting")
    message = await world.settled(record, within=15)

    original_edits = [
        request
        for request in world.discord.requests
        if request.route.startswith("PATCH /webhooks/") and request.route.endswith("@original")
    ]
    progress, final = original_edits[:-1], original_edits[-1]
    assert 2 <= len(progress) <= 4
    assert all("▰" in request.json["content"] for request in progress)
    assert progress[0].time - record.delivered_at >= 1.4  # the deferred reply said enough
    gaps = [b.time - a.time for a, b in itertools.pairwise(progress)]
    assert min(gaps) >= 1.4  # at most one edit every 1.5 s
    assert final.files and message.attachments


async def test_refusals_are_private_and_spend_nothing(world: World) -> None:
    """A reference that is not an image is refused ephemerally, before any API call."""
    document = world.discord.host_attachment(b"%PDF-1.4", "notes.pdf", "application/pdf")
    record = await world.imagine(prompt="a fox", image=document)
    await world.discord.wait_for(lambda: record.acknowledged)

    assert record.response_data is not None
    assert record.response_type == 4 and record.response_data["flags"] & 64
    assert "JPEG, PNG, GIF or WebP" in record.response_data["content"]
    assert world.api.requests["submit"] == 0


async def test_an_oversized_reference_is_refused_before_spending(world: World) -> None:
    """A reference over the size cap is refused privately, before any API call."""
    reference = world.discord.host_attachment(png_bytes(), "huge.png", "image/png")
    reference["size"] = 25 * 1024 * 1024  # as Discord would describe a 25 MiB upload
    record = await world.imagine(prompt="a fox", image=reference)
    await world.discord.wait_for(lambda: record.acknowledged)
    assert record.response_data is not None
    assert record.response_data["flags"] & 64 and "MiB" in record.response_data["content"]
    assert world.api.requests["submit"] == 0


async def test_a_failed_upload_is_retried(world: World) -> None:
    """A 5xx from Discord on the upload is retried; the image still arrives."""
    world.discord.fail_uploads.append(500)
    message = await world.settled(await world.imagine(prompt="a fox"), within=15)
    assert message.attachments
    assert [r.status for r in world.discord.requests if r.files][:2] == [500, 200]


async def test_missing_attach_permission_is_refused_before_spending(world: World) -> None:
    """In a channel where the bot cannot attach files, the user is told so privately."""
    record = await world.imagine(NO_FILES, prompt="a fox")
    await world.discord.wait_for(lambda: record.acknowledged)
    assert record.response_data is not None
    assert record.response_data["flags"] & 64
    assert "Attach Files" in record.response_data["content"]
    assert world.api.requests["submit"] == 0


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        (lambda api: api.plan(Outcome(status="failed")), "content filter"),
        (lambda api: setattr(api, "credit_cents", 0), "out of credit"),
        (lambda api: setattr(api, "api_key", "rotated"), "key was refused"),
        (
            lambda api: api.inject("submit", *[Fault("status", 429, after_effect=False)] * 3),
            "busy right now",
        ),
        (lambda api: api.inject("submit", Fault("status", 500)), "unavailable right now"),
        (lambda api: api.plan(Outcome(output="not_image")), "not a usable image"),
        (lambda api: api.plan(Outcome(output="missing")), "not a usable image"),
        (lambda api: api.plan(Outcome(output="wrong_size")), "not a usable image"),
    ],
    ids=[
        "moderation",
        "out-of-credit",
        "bad-key",
        "rate-limited",
        "provider-down",
        "not-an-image",
        "no-output",
        "wrong-size",
    ],
)
async def test_failures_end_in_one_clear_sentence(world: World, arrange, expected: str) -> None:
    """Each API failure replaces the progress line with one sentence, never the raw body."""
    arrange(world.api)
    message = await world.settled(await world.imagine(prompt="a fox"))
    assert message.content.startswith("❌") and expected in message.content
    assert not message.attachments and not message.embeds
    assert "Injected fault" not in message.content


async def test_a_generation_past_the_deadline_fails_visibly(tmp_path: Path) -> None:
    """A prediction that never finishes ends, at the configured deadline, with a clear line."""
    async with running_world(tmp_path, generation_timeout_seconds=1.0) as world:
        world.api.plan(Outcome(unknown_status="queued", generation_time=60))
        message = await world.settled(await world.imagine(prompt="a fox"))
        assert "took too long" in message.content


async def test_an_output_over_the_upload_limit_is_reencoded_to_fit(world: World) -> None:
    """A PNG too large to upload is re-encoded into a smaller format that fits."""
    png_size = 17_000  # the fake's 1280×720 PNG is about 17 kB; its WebP a fraction of that
    world.discord.upload_limit = png_size // 2
    message = await world.settled(
        await world.imagine(prompt="a fox", size="1280*720", format="png")
    )
    image = world.decoded(message)
    assert image.size == (1280, 720) and image.format in ("WEBP", "JPEG")
    assert len(message.attachments[0].data) <= world.discord.upload_limit
    assert embed_fields(message)["Format"] == image.format


async def test_an_output_that_cannot_fit_is_explained(world: World) -> None:
    """When no re-encode fits the upload limit, the user is told in one sentence."""
    world.discord.upload_limit = 200
    message = await world.settled(await world.imagine(prompt="a fox"))
    assert message.content == "❌ The image is too large to upload here."


async def test_an_expired_token_delivers_to_the_channel(world: World) -> None:
    """If the interaction token dies mid-job, the image is posted in the channel for the user."""
    world.api.plan(Outcome(generation_time=1.0, estimated_time="0.5-1s"))
    record = await world.imagine(prompt="a fox")
    await world.discord.wait_for(lambda: record.acknowledged)
    world.discord.expire_interaction(record.token)

    def posted() -> list[FakeMessage]:
        return [m for m in world.discord.messages_in(GENERAL) if m.attachments and not m.webhook_id]

    [message] = await world.discord.wait_for(posted, timeout=10)
    user_id = record.user["id"]
    assert message.content.startswith(f"<@{user_id}>")
    assert message.allowed_mentions == {"parse": [], "users": [int(user_id)]}
    progress_edits_after_expiry = [
        r for r in world.discord.requests if r.route.endswith("@original") and r.status == 401
    ]
    assert len(progress_edits_after_expiry) <= 1  # a dead token is not used again


async def test_fifty_concurrent_commands_all_finish(world: World) -> None:
    """50 users at once: every one gets a first response in time and an image."""
    records = await asyncio.gather(*(world.imagine(prompt=f"fox {n}") for n in range(50)))
    messages = await asyncio.gather(*(world.settled(record, within=30) for record in records))
    assert all(message.attachments for message in messages)
    delays = [record.response_delay for record in records]
    assert all(delay is not None and delay < 3 for delay in delays)
    assert world.api.billed_cents == 50

"""Tests for the VibeDream fake itself, driven with plain aiohttp client calls."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.fakes.fake_vibedream import (
    MODERATION_ERROR,
    REFERENCE_ERROR,
    FakeVibeDream,
    Fault,
    Outcome,
    bomb_image,
)

AUTH = {"Authorization": "Bearer test-api-key"}
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
async def fake() -> AsyncIterator[FakeVibeDream]:
    async with FakeVibeDream(generation_time=0.0) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def submit(
    session: aiohttp.ClientSession, fake: FakeVibeDream, **body: Any
) -> aiohttp.ClientResponse:
    url = f"{fake.base_url}/models/z-image-turbo/generate"
    async with session.post(url, json={"prompt": "a red fox", **body}, headers=AUTH) as resp:
        await resp.read()  # keep the body readable after the context exits
        return resp


async def poll_until_done(session: aiohttp.ClientSession, status_url: str) -> dict[str, Any]:
    for _ in range(100):
        async with session.get(status_url, headers=AUTH) as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
        if body["status"] in ("completed", "failed"):
            return body
        await asyncio.sleep(0.01)
    raise AssertionError("prediction never finished")


async def test_submit_poll_download_roundtrip(
    fake: FakeVibeDream, session: aiohttp.ClientSession
) -> None:
    """A prediction completes and its output decodes to the asked size and format."""
    resp = await submit(session, fake, size="768*1024", output_format="webp", seed=7)
    assert resp.status == 200
    created = await resp.json()
    assert created["status"] == "processing" and created["costCents"] == 1
    assert created["statusUrl"] == f"{fake.base_url}/predictions/{created['id']}"
    assert ISO_MILLIS.match(created["createdAt"])

    done = await poll_until_done(session, created["statusUrl"])
    assert done["status"] == "completed" and done["error"] is None
    assert ISO_MILLIS.match(done["completedAt"])
    async with session.get(done["outputs"][0]) as download:  # a public link: no key
        assert download.content_type == "image/webp"
        image = Image.open(io.BytesIO(await download.read()))
    assert (image.format, image.size) == ("WEBP", (768, 1024))

    prediction = fake.predictions[created["id"]]
    assert prediction.completed_at == prediction.completes_at
    assert prediction.polls >= 1 and fake.billing == {created["id"]: 1}


async def test_wrong_or_missing_key_is_401(
    fake: FakeVibeDream, session: aiohttp.ClientSession
) -> None:
    """Submits and polls without the right bearer key get 401 and create nothing."""
    url = f"{fake.base_url}/models/z-image-turbo/generate"
    async with session.post(url, json={"prompt": "x"}) as resp:
        assert resp.status == 401
    bad_key = {"Authorization": "Bearer nope"}
    async with session.get(f"{fake.base_url}/predictions/abc", headers=bad_key) as resp:
        assert (resp.status, await resp.json()) == (401, {"error": "Invalid API key"})
    assert fake.predictions == {} and fake.billed_cents == 0


async def test_bad_size_is_400(fake: FakeVibeDream, session: aiohttp.ClientSession) -> None:
    """A size written with an x instead of an asterisk is rejected with a JSON error."""
    resp = await submit(session, fake, size="1024x1024")
    assert resp.status == 400
    assert "size" in (await resp.json())["error"]
    assert fake.predictions == {} and len(fake.submissions) == 1


async def test_injected_429_is_served_once(
    fake: FakeVibeDream, session: aiohttp.ClientSession
) -> None:
    """An injected 429 carries Retry-After as given, and the next submit succeeds."""
    fake.inject("submit", Fault("status", 429, retry_after=0.2, after_effect=False))
    first = await submit(session, fake)
    assert (first.status, first.headers["Retry-After"]) == (429, "0.2")
    second = await submit(session, fake)
    assert second.status == 200
    assert fake.faults_injected == {"submit:status:429": 1}
    assert len(fake.predictions) == 1 and fake.requests["submit"] == 2


async def test_dropped_submit_after_effect_is_still_billed(
    fake: FakeVibeDream, session: aiohttp.ClientSession
) -> None:
    """A submit dropped after its effect disconnects the client yet bills a prediction."""
    fake.inject("submit", Fault("drop"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await submit(session, fake)
    assert len(fake.predictions) == 1 and fake.billed_cents == 1
    assert fake.faults_injected["submit:drop"] == 1


async def test_failed_outcome_reports_moderation(
    fake: FakeVibeDream, session: aiohttp.ClientSession
) -> None:
    """A planned failure ends with the moderation message and no outputs, and is billed."""
    fake.plan(Outcome(status="failed"))
    created = await (await submit(session, fake)).json()
    done = await poll_until_done(session, created["statusUrl"])
    assert (done["status"], done["outputs"], done["error"]) == ("failed", None, MODERATION_ERROR)
    assert fake.billing == {created["id"]: 1}


async def test_credit_exhaustion_is_402(session: aiohttp.ClientSession) -> None:
    """Once the balance cannot cover a prediction, submits get 402 and create nothing."""
    async with FakeVibeDream(credit_cents=1) as fake:
        assert (await submit(session, fake)).status == 200
        refused = await submit(session, fake)
        assert (refused.status, await refused.json()) == (402, {"error": "Insufficient credits"})
        assert len(fake.predictions) == 1 and fake.credit_cents == 0


async def test_oversized_output_is_streamed(
    fake: FakeVibeDream, session: aiohttp.ClientSession
) -> None:
    """An oversized output streams without a length, so a capped reader can stop early."""
    fake.plan(Outcome(output="oversized"))
    created = await (await submit(session, fake, output_format="png")).json()
    done = await poll_until_done(session, created["statusUrl"])
    received = 0
    async with session.get(done["outputs"][0]) as download:
        assert download.content_type == "image/png" and download.content_length is None
        async for chunk in download.content.iter_chunked(64 * 1024):
            received += len(chunk)
            if received > 4 * 1024 * 1024:
                break
    assert 4 * 1024 * 1024 < received < 8 * 1024 * 1024


async def test_reference_image_is_fetched(
    fake: FakeVibeDream, session: aiohttp.ClientSession
) -> None:
    """An image URL is fetched and identified; one that is not an image fails the prediction."""
    first = await (await submit(session, fake, output_format="png")).json()
    reference_url = (await poll_until_done(session, first["statusUrl"]))["outputs"][0]

    good = await (await submit(session, fake, image=reference_url)).json()
    assert (await poll_until_done(session, good["statusUrl"]))["status"] == "completed"
    assert fake.predictions[good["id"]].reference_format == "PNG"

    bad = await (await submit(session, fake, image=f"{fake.base_url}/predictions/x")).json()
    failed = await poll_until_done(session, bad["statusUrl"])
    assert (failed["status"], failed["error"]) == ("failed", REFERENCE_ERROR)
    assert fake.billed_cents == 3


async def completed_output(session: aiohttp.ClientSession, fake: FakeVibeDream, **body: Any) -> str:
    created = await (await submit(session, fake, **body)).json()
    done = await poll_until_done(session, created["statusUrl"])
    assert done["status"] == "completed"
    output: str = done["outputs"][0]
    return output


async def test_outputs_can_live_on_their_own_host(session: aiohttp.ClientSession) -> None:
    """With assets_host, output links point at that loopback address, which serves them."""
    async with FakeVibeDream(generation_time=0.0, assets_host="127.0.0.2") as fake:
        url = await completed_output(session, fake, output_format="png")
        assert url.startswith("http://127.0.0.2:") and fake.base_url.startswith("http://127.0.0.1:")
        async with session.get(url) as download:
            assert download.status == 200 and download.content_type == "image/png"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_broken_outputs(fake: FakeVibeDream, session: aiohttp.ClientSession) -> None:
    """Truncated, corrupt and bomb outputs are served as images; a redirect points at the
    real file; a foreign-host link names localhost."""
    fake.plan(
        Outcome(),
        Outcome(output="truncated"),
        Outcome(output="corrupt"),
        Outcome(output="bomb"),
        Outcome(output="redirect"),
        Outcome(output="foreign_host"),
    )
    bodies = []
    for _ in range(3):
        async with session.get(await completed_output(session, fake, seed=7)) as download:
            assert download.content_type == "image/jpeg"
            bodies.append(await download.read())
    whole, cut, corrupt = bodies
    assert cut == whole[: len(whole) // 2]
    assert len(corrupt) == len(whole) and corrupt != whole
    async with session.get(await completed_output(session, fake)) as bomb:
        with Image.open(io.BytesIO(await bomb.read())) as image:
            assert image.size == (12000, 12000)
    redirect_url = await completed_output(session, fake)
    async with session.get(redirect_url, allow_redirects=False) as redirect:
        assert redirect.status == 302 and redirect.headers["Location"].startswith(redirect_url)
    async with session.get(redirect_url) as followed:
        assert followed.status == 200 and followed.content_type == "image/jpeg"
    assert (await completed_output(session, fake)).startswith("http://localhost:")


async def test_a_truncated_fault_cuts_one_transfer(
    fake: FakeVibeDream, session: aiohttp.ClientSession
) -> None:
    """Fault("truncated") on the download route halves that one response only."""
    url = await completed_output(session, fake, output_format="webp")
    fake.inject("download", Fault("truncated"))
    first, second = [len(await (await session.get(url)).read()) for _ in range(2)]
    assert first == second // 2 and fake.faults_injected["download:truncated"] == 1


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_png_bomb_is_a_valid_png() -> None:
    """Every chunk of the PNG bomb checks out: only its size makes it dangerous."""
    data = bomb_image("png")
    assert len(data) < 700 * 1024
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (12000, 12000)
        image.verify()

"""The API client against the fake VibeDream server: success, every error path, the retry rules."""

from __future__ import annotations

import io
import time

import aiohttp
import pytest
from PIL import Image
from pydantic import ValidationError

from bot.core.requests import GenerationRequest
from bot.vibedream import (
    AuthenticationFailed,
    BadOutput,
    DeadlineExceeded,
    InvalidRequest,
    OutOfCredit,
    PredictionFailed,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    VibeDreamClient,
)
from tests.fakes.fake_vibedream import MODERATION_ERROR, FakeVibeDream, Fault, Outcome
from tests.world import FAST_RETRY, FAST_TIMEOUTS

REQUEST = GenerationRequest(prompt="a lighthouse at dusk", size="768*1024", output_format="png")


async def generate(api: VibeDreamClient, request: GenerationRequest = REQUEST, **wait_options):
    submission = await api.submit(request)
    prediction = await api.wait(
        submission.prediction_id, estimate=submission.estimate, **wait_options
    )
    return await api.download(prediction.outputs[0], request)


async def test_generation_round_trip(api: VibeDreamClient, fake_api: FakeVibeDream) -> None:
    """Submit, poll and download yield a decoded image of the asked size and format, billed once."""
    image = await generate(api)
    assert (image.width, image.height, image.output_format) == (768, 1024, "png")
    with Image.open(io.BytesIO(image.data)) as decoded:
        assert (decoded.format, decoded.size) == ("PNG", (768, 1024))
    assert fake_api.submissions == [REQUEST.to_payload()]
    assert fake_api.billed_cents == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "   "},
        {"prompt": "x" * 1501},
        {"size": "1024x1024"},
        {"output_format": "gif"},
        {"seed": -2},
        {"seed": 2_147_483_648},
        {"strength": 0.65},
        {"strength": 1.1},
        {"image": "ftp://example.com/a.png"},
        {"negative_prompt": "blurry"},
    ],
)
def test_out_of_range_requests_are_refused_locally(fields: dict) -> None:
    """Every documented range is enforced before a request could be made."""
    with pytest.raises(ValidationError):
        GenerationRequest(**{"prompt": "ok", **fields})


def test_strength_is_sent_only_with_a_reference() -> None:
    """Strength means nothing without `image`, so it is not sent; with one it is, rounded."""
    assert "strength" not in REQUEST.to_payload()
    with_image = GenerationRequest(
        prompt="p", image="https://cdn.example/a.png", strength=0.30000001
    )
    assert with_image.to_payload()["strength"] == 0.3


async def test_wrong_key_is_an_authentication_error(
    fake_api: FakeVibeDream, http: aiohttp.ClientSession
) -> None:
    """A 401 becomes AuthenticationFailed, and neither key appears in what is raised."""
    client = VibeDreamClient(http, base_url=fake_api.base_url, api_key="sk-wrong-key-123")
    with pytest.raises(AuthenticationFailed) as caught:
        await client.submit(REQUEST)
    shown = f"{caught.value} {caught.value.user_message} {caught.value.detail}"
    assert "sk-wrong-key-123" not in shown and fake_api.api_key not in shown
    assert fake_api.billed_cents == 0


async def test_out_of_credit(api: VibeDreamClient, fake_api: FakeVibeDream) -> None:
    """A 402 becomes OutOfCredit with a message for the server owner."""
    fake_api.credit_cents = 0
    with pytest.raises(OutOfCredit) as caught:
        await api.submit(REQUEST)
    assert "out of credit" in caught.value.user_message


async def test_rate_limited_submit_waits_retry_after_then_succeeds(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A 429 with Retry-After is retried after that wait, and only the accepted try is billed."""
    fake_api.inject("submit", Fault("status", 429, retry_after=0.2, after_effect=False))
    started = time.monotonic()
    submission = await api.submit(REQUEST)
    assert time.monotonic() - started >= 0.2
    assert len(fake_api.submissions) == 2
    assert list(fake_api.billing) == [submission.prediction_id]


async def test_rate_limit_that_persists_is_reported(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """After its attempts run out the client gives up with RateLimited."""
    fake_api.inject("submit", *[Fault("status", 429, retry_after=0.01, after_effect=False)] * 3)
    with pytest.raises(RateLimited):
        await api.submit(REQUEST)
    assert len(fake_api.submissions) == 3 and fake_api.billed_cents == 0


async def test_a_long_retry_after_is_not_waited_out(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A Retry-After longer than the cap fails fast instead of holding the user for minutes."""
    fake_api.inject("submit", Fault("status", 429, retry_after=600, after_effect=False))
    with pytest.raises(RateLimited) as caught:
        await api.submit(REQUEST)
    assert caught.value.retry_after == 600
    assert len(fake_api.submissions) == 1


async def test_submit_503_is_retried_but_500_is_not(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """503 says nothing was accepted and is retried; a 500 might have been, so it is not."""
    fake_api.inject("submit", Fault("status", 503, after_effect=False))
    await api.submit(REQUEST)
    assert len(fake_api.submissions) == 2
    fake_api.inject("submit", Fault("status", 500, after_effect=False))
    with pytest.raises(ProviderUnavailable) as caught:
        await api.submit(REQUEST)
    assert caught.value.status == 500
    assert len(fake_api.submissions) == 3


@pytest.mark.parametrize(
    "fault",
    [Fault("hang", delay=FAST_TIMEOUTS.submit + 0.5), Fault("drop"), Fault("malformed")],
    ids=["timeout", "dropped-connection", "malformed-json"],
)
async def test_submit_without_a_usable_answer_is_never_sent_twice(
    api: VibeDreamClient, fake_api: FakeVibeDream, fault: Fault
) -> None:
    """A submit that timed out, dropped or came back unreadable may be billed: it is not resent."""
    fake_api.inject("submit", fault)
    with pytest.raises(SubmitOutcomeUnknown):
        await api.submit(REQUEST)
    assert len(fake_api.submissions) == 1
    assert fake_api.billed_cents == 1  # the provider did take it: why resending would double-bill


async def test_bad_request_hides_the_raw_body(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A 400 with a plain-text body becomes InvalidRequest; users never see that body."""
    body = "<html>upstream said: internal trace id 42</html>"
    fake_api.inject("submit", Fault("status", 400, body=body, after_effect=False))
    with pytest.raises(InvalidRequest) as caught:
        await api.submit(REQUEST)
    assert "trace id" not in caught.value.user_message
    assert "trace id" in caught.value.detail  # kept, trimmed, for the logs


@pytest.mark.parametrize(
    "fault",
    [
        Fault("malformed"),
        Fault("status", 502),
        Fault("drop"),
        Fault("status", 429, retry_after=0.05),
    ],
    ids=["malformed-json", "502", "dropped-connection", "429"],
)
async def test_polls_retry_through_transient_trouble(
    api: VibeDreamClient, fake_api: FakeVibeDream, fault: Fault
) -> None:
    """A poll that fails for a passing reason is tried again; the job still completes."""
    fake_api.inject("poll", fault, fault)
    image = await generate(api)
    assert image.width == 768
    assert fake_api.faults_injected[next(iter(fake_api.faults_injected))] == 2


async def test_unknown_status_counts_as_running(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A status the docs do not list ("queued") is not an error: polling goes on to the end."""
    fake_api.plan(Outcome(unknown_status="queued", generation_time=0.5, estimated_time="0.1-0.3s"))
    image = await generate(api)
    prediction = next(iter(fake_api.predictions.values()))
    assert image.height == 1024 and prediction.polls >= 2


async def test_unknown_status_forever_hits_the_deadline(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A prediction that never finishes ends with DeadlineExceeded at the configured bound."""
    fake_api.plan(Outcome(unknown_status="queued", generation_time=60))
    submission = await api.submit(REQUEST)
    with pytest.raises(DeadlineExceeded):
        await api.wait(submission.prediction_id, max_seconds=0.6)


async def test_moderation_failure_carries_the_providers_reason(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A failed prediction raises PredictionFailed whose user message quotes the provider."""
    fake_api.plan(Outcome(status="failed"))
    with pytest.raises(PredictionFailed) as caught:
        await generate(api)
    assert MODERATION_ERROR in caught.value.user_message


@pytest.mark.parametrize("output", ["oversized", "not_image", "wrong_size", "wrong_format"])
async def test_unusable_outputs_are_refused(
    fake_api: FakeVibeDream, http: aiohttp.ClientSession, output: str
) -> None:
    """An output over the byte cap, not an image, or not what was asked for is BadOutput."""
    client = VibeDreamClient(
        http,
        base_url=fake_api.base_url,
        api_key=fake_api.api_key,
        retry=FAST_RETRY,
        max_output_bytes=4 * 1024 * 1024,
    )
    fake_api.plan(Outcome(output=output))  # type: ignore[arg-type]
    with pytest.raises(BadOutput):
        await generate(client)


async def test_download_retries_a_server_error(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A 5xx from the assets host is retried with back-off."""
    fake_api.inject("download", Fault("status", 503))
    await generate(api)
    assert fake_api.requests["download"] == 2


async def test_a_download_that_is_not_an_image_is_fetched_again(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """An error page or broken body instead of the (paid for) image earns one more download."""
    fake_api.inject("download", Fault("malformed"))
    image = await generate(api)
    assert image.width == 768
    assert fake_api.requests["download"] == 2

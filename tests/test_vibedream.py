"""The API client against the fake VibeDream server: success, every error path, the retry rules."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from PIL import Image
from pydantic import ValidationError

from bot.core.requests import FORMATS, GeneratedImage, GenerationRequest
from bot.settings import Settings
from bot.vibedream import (
    AuthenticationFailed,
    BadOutput,
    ContentFlagged,
    DeadlineExceeded,
    EndpointNotFound,
    InvalidRequest,
    OutOfCredit,
    OutputMissing,
    PredictionFailed,
    PredictionUnknown,
    ProviderUnavailable,
    RateLimited,
    ReferenceRejected,
    SubmitOutcomeUnknown,
    Timeouts,
    UndecodableOutput,
    VibeDreamClient,
    redact,
    sniff_image_type,
)
from bot.vibedream.outputs import prove_image, read_header
from tests.fakes.fake_vibedream import (
    MODERATION_ERROR,
    REFERENCE_ERROR,
    FakeVibeDream,
    Fault,
    Outcome,
)
from tests.world import FAST_RETRY, FAST_TIMEOUTS

REQUEST = GenerationRequest(prompt="a lighthouse at dusk", size="768*1024", output_format="png")


async def generate(
    api: VibeDreamClient, request: GenerationRequest = REQUEST, **wait_options: Any
) -> GeneratedImage:
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
def test_out_of_range_requests_are_refused_locally(fields: dict[str, Any]) -> None:
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


async def test_moderation_failure_is_told_in_our_own_words(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A moderation refusal raises ContentFlagged, whose user message is ours, not the
    provider's; the provider's reason is kept for the logs."""
    fake_api.plan(Outcome(status="failed"))
    with pytest.raises(ContentFlagged) as caught:
        await generate(api)
    assert caught.value.user_message == ContentFlagged.user_message
    assert "content filter" in caught.value.user_message
    assert "moderation" not in caught.value.user_message
    assert caught.value.detail == MODERATION_ERROR


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


# What users and logs are told.

SECRET_URL = "https://internal.example/x?token=abc"
SECRET_KEY = "sk-live-123456789012345678901234"


def assert_hidden(error: BaseException, *secrets: str) -> None:
    assert isinstance(error, PredictionFailed | InvalidRequest)
    for text in (error.user_message, error.detail, str(error)):
        for secret in secrets:
            assert secret not in text
        assert "internal.example" not in text and "token=abc" not in text


async def test_a_failure_reason_never_reaches_users_or_the_ledger(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A failure reason naming an internal URL and a key: the user reads our generic sentence,
    and the detail kept for logs and the ledger has both redacted."""
    reason = f"Worker crashed fetching {SECRET_URL} with key {SECRET_KEY}; retry later"
    fake_api.plan(Outcome(status="failed", error=reason))
    with pytest.raises(PredictionFailed) as caught:
        await generate(api)
    assert type(caught.value) is PredictionFailed
    assert caught.value.user_message == "The image service could not make this image."
    assert_hidden(caught.value, SECRET_URL, SECRET_KEY)
    assert caught.value.detail == "Worker crashed fetching <url> with key <redacted>; retry later"


async def test_a_reference_failure_says_so(api: VibeDreamClient, fake_api: FakeVibeDream) -> None:
    """The provider's "could not load the reference image" becomes ReferenceRejected."""
    fake_api.plan(Outcome(status="failed", error=REFERENCE_ERROR))
    with pytest.raises(ReferenceRejected) as caught:
        await generate(api)
    assert "reference image" in caught.value.user_message


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (MODERATION_ERROR, ContentFlagged),
        ("NSFW content detected", ContentFlagged),
        ("Safety checker triggered on output", ContentFlagged),
        ("The input image was flagged", ContentFlagged),
        (REFERENCE_ERROR, ReferenceRejected),
        ("CUDA out of memory", PredictionFailed),
        ("", PredictionFailed),
    ],
)
def test_failure_reasons_are_classified(reason: str, kind: type[PredictionFailed]) -> None:
    """Each failure kind gets the class whose sentence is true for it."""
    error = PredictionFailed.for_reason(reason)
    assert type(error) is kind
    assert error.user_message == kind.user_message


async def test_an_error_body_is_redacted(api: VibeDreamClient, fake_api: FakeVibeDream) -> None:
    """A 400 whose JSON body names an internal URL, a key and our own key: none is kept."""
    message = f"bad image {SECRET_URL}; upstream key {SECRET_KEY}; caller {fake_api.api_key}"
    body = json.dumps({"error": message})
    fake_api.inject("submit", Fault("status", 400, body=body, after_effect=False))
    with pytest.raises(InvalidRequest) as caught:
        await api.submit(REQUEST)
    assert_hidden(caught.value, SECRET_URL, SECRET_KEY, fake_api.api_key)
    assert caught.value.detail.startswith("submit HTTP 400: bad image <url>")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"see {SECRET_URL} now", "see <url> now"),
        ("at cdn.internal.example/x?sig=1 now", "at <url> now"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer <redacted>"),
        ("api_key=ZZZ&x=1", "api_key=<redacted>&x=1"),
        ('{"token": "abc"}', '{"token": "<redacted>"}'),
        (f"key {SECRET_KEY}", "key <redacted>"),
        ("sig deadbeefdeadbeefdeadbeefdeadbeef", "sig <redacted>"),
        ("session QmFzZTY0IGtleSB3aXRoIGRpZ2l0cyAx==", "session <redacted>"),
        (
            "prediction 550e8400-e29b-41d4-a716-446655440000 not finished in 120s",
            "prediction 550e8400-e29b-41d4-a716-446655440000 not finished in 120s",
        ),
        ("many\n  spaces\tcollapsed", "many spaces collapsed"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    """URLs, bearer tokens, key=... and key-like runs go; prediction ids and prose stay."""
    assert redact(text) == expected


def test_redact_trims_and_scrubs_named_secrets() -> None:
    """A detail is at most 200 characters, and a named secret is removed wherever it is."""
    assert len(redact("word " * 500)) == 200
    assert redact("the key was plainsecret", secrets=["plainsecret"]) == "the key was <redacted>"


# Which status means what.


async def test_a_poll_404_means_the_prediction_is_unknown(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """Polling an id the provider does not know ends at once with PredictionUnknown."""
    with pytest.raises(PredictionUnknown) as caught:
        await api.wait("00000000-0000-0000-0000-000000000000", max_seconds=5)
    assert caught.value.status == 404 and fake_api.requests["poll"] == 1
    assert "settings" not in caught.value.user_message


async def test_a_submit_404_blames_the_address_not_the_settings(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A 404 on submit means the route is wrong: EndpointNotFound, not sent again."""
    fake_api.inject("submit", Fault("status", 404, after_effect=False))
    with pytest.raises(EndpointNotFound) as caught:
        await api.submit(REQUEST)
    assert "settings" not in caught.value.user_message
    assert len(fake_api.submissions) == 1


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_a_missing_output_file_is_the_providers_fault(
    api: VibeDreamClient, fake_api: FakeVibeDream, status: int
) -> None:
    """401/403/404/410 from the assets host: the file is missing or expired (not our key,
    not the settings), and asking again would not help."""
    fake_api.inject("download", *[Fault("status", status)] * 4)
    with pytest.raises(OutputMissing) as caught:
        await generate(api)
    assert caught.value.user_message == OutputMissing.user_message
    assert "missing or expired" in caught.value.user_message
    assert caught.value.status == status
    assert fake_api.requests["download"] == 1


async def test_another_4xx_from_the_assets_host_is_not_retried(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A 400 from the assets host is final BadOutput after one request."""
    fake_api.inject("download", *[Fault("status", 400)] * 4)
    with pytest.raises(BadOutput) as caught:
        await generate(api)
    assert not isinstance(caught.value, UndecodableOutput) and caught.value.status == 400
    assert fake_api.requests["download"] == 1


async def test_download_retries_are_bounded(api: VibeDreamClient, fake_api: FakeVibeDream) -> None:
    """A 5xx that persists is tried download_attempts times in all, then reported."""
    fake_api.inject("download", *[Fault("status", 502)] * 10)
    with pytest.raises(ProviderUnavailable):
        await generate(api)
    assert fake_api.requests["download"] == FAST_RETRY.download_attempts


async def test_a_download_timeout_is_retried(
    fake_api: FakeVibeDream, http: aiohttp.ClientSession
) -> None:
    """A download that times out is tried again, and the second one succeeds."""
    client = VibeDreamClient(
        http,
        base_url=fake_api.base_url,
        api_key=fake_api.api_key,
        retry=FAST_RETRY,
        timeouts=Timeouts(submit=0.5, poll=0.5, download=0.3, connect=0.5),
    )
    fake_api.inject("download", Fault("hang", delay=1.0))
    image = await generate(client)
    assert image.width == 768 and fake_api.requests["download"] == 2


async def test_a_long_retry_after_on_a_download_is_not_waited_out(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A 429 from the assets host asking for ten minutes fails at once."""
    fake_api.inject("download", Fault("status", 429, retry_after=600))
    with pytest.raises(RateLimited):
        await generate(api)
    assert fake_api.requests["download"] == 1


# Where outputs may come from.


def counting_session() -> tuple[aiohttp.ClientSession, list[str]]:
    """A real session that records the URL of every request it starts."""
    started: list[str] = []

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        started.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return aiohttp.ClientSession(trace_configs=[trace]), started


async def test_an_output_on_another_host_is_refused_without_a_request(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """An output link on a host that is neither the API's nor an assets host is BadOutput,
    and nothing is fetched from it, not even once."""
    fake_api.plan(Outcome(output="foreign_host"))
    with pytest.raises(BadOutput) as caught:
        await generate(api)
    assert not isinstance(caught.value, UndecodableOutput)
    assert "localhost" in caught.value.detail
    assert fake_api.requests["download"] == 0


@pytest.fixture
async def separate_assets() -> AsyncIterator[FakeVibeDream]:
    async with FakeVibeDream(estimated_time="0.05-0.3s", assets_host="127.0.0.2") as fake:
        yield fake


async def test_a_configured_assets_host_is_trusted(
    separate_assets: FakeVibeDream, http: aiohttp.ClientSession
) -> None:
    """Outputs on their own host download once that host is configured, and not before."""
    trusting = VibeDreamClient(
        http,
        base_url=separate_assets.base_url,
        api_key=separate_assets.api_key,
        retry=FAST_RETRY,
        assets_hosts=["127.0.0.2"],
    )
    image = await generate(trusting)
    assert image.width == 768 and separate_assets.requests["download"] == 1

    default = VibeDreamClient(
        http, base_url=separate_assets.base_url, api_key=separate_assets.api_key, retry=FAST_RETRY
    )
    with pytest.raises(BadOutput):
        await generate(default)
    assert separate_assets.requests["download"] == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://assets.vibedream.ai/outputs/a/0.png",  # https is required of the real API
        "ftp://assets.vibedream.ai/outputs/a/0.png",
        "file:///etc/passwd",
        "https://assets.vibedream.ai.evil.example/outputs/a/0.png",
        "https://assets.vibedream.ai@evil.example/outputs/a/0.png",
        "https://user:pw@assets.vibedream.ai/outputs/a/0.png",
        "https://169.254.169.254/latest/meta-data/",
        "not a url",
    ],
)
async def test_untrusted_output_urls_are_refused_before_any_request(url: str) -> None:
    """Against the real API's address, only https links on its hosts would be fetched."""
    session, started = counting_session()
    async with session:
        client = VibeDreamClient(
            session, base_url="https://api.vibedream.ai/api/v1", api_key="k", retry=FAST_RETRY
        )
        with pytest.raises(BadOutput) as caught:
            await client.download(url, REQUEST)
    assert not isinstance(caught.value, UndecodableOutput)
    assert started == []


async def test_a_redirect_from_the_assets_host_is_not_followed(
    api: VibeDreamClient, fake_api: FakeVibeDream
) -> None:
    """A 302 (even to the real file on the same host) is BadOutput after one request."""
    fake_api.plan(Outcome(output="redirect"))
    with pytest.raises(BadOutput) as caught:
        await generate(api)
    assert caught.value.status == 302 and fake_api.requests["download"] == 1


def test_assets_hosts_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """VIBEDREAM_ASSETS_HOSTS splits on commas and is normalised; it defaults to the
    provider's assets host; a URL in it is refused."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("VIBEDREAM_API_KEY", "k")
    assert Settings().vibedream_assets_hosts == ["assets.vibedream.ai"]
    monkeypatch.setenv("VIBEDREAM_ASSETS_HOSTS", " Assets.Example.com, cdn.example.net., ")
    settings = Settings()
    assert settings.vibedream_assets_hosts == ["assets.example.com", "cdn.example.net"]
    monkeypatch.setenv("VIBEDREAM_ASSETS_HOSTS", "https://assets.example.com/")
    with pytest.raises(ValidationError):
        Settings()


# Proving the image.


@pytest.mark.parametrize("output_format", FORMATS)
async def test_a_truncated_output_is_refused_after_bounded_retries(
    api: VibeDreamClient, fake_api: FakeVibeDream, output_format: str
) -> None:
    """A file cut short (JPEG, PNG, WebP) is never returned; each try fetches it again."""
    request = REQUEST.model_copy(update={"output_format": output_format})
    fake_api.plan(Outcome(output="truncated"))
    with pytest.raises(UndecodableOutput):
        await generate(api, request)
    assert fake_api.requests["download"] == FAST_RETRY.download_attempts


@pytest.mark.parametrize("output_format", FORMATS)
async def test_a_transfer_cut_once_is_fetched_again(
    api: VibeDreamClient, fake_api: FakeVibeDream, output_format: str
) -> None:
    """One truncated transfer earns a second download, which is the whole image."""
    request = REQUEST.model_copy(update={"output_format": output_format})
    fake_api.inject("download", Fault("truncated"))
    image = await generate(api, request)
    assert (image.width, image.output_format) == (768, output_format)
    assert fake_api.requests["download"] == 2


async def test_a_corrupt_png_is_refused(api: VibeDreamClient, fake_api: FakeVibeDream) -> None:
    """Flipped bytes inside a PNG fail its chunk CRCs."""
    fake_api.plan(Outcome(output="corrupt"))
    with pytest.raises(UndecodableOutput):
        await generate(api)


@pytest.mark.parametrize("output_format", FORMATS)
async def test_a_decompression_bomb_is_refused_from_its_header(
    api: VibeDreamClient, fake_api: FakeVibeDream, output_format: str
) -> None:
    """A tiny file declaring 12000*12000 pixels is BadOutput after one download, refused on
    what its header declares."""
    request = REQUEST.model_copy(update={"output_format": output_format})
    fake_api.plan(Outcome(output="bomb"))
    with pytest.raises(BadOutput) as caught:
        await generate(api, request)
    assert not isinstance(caught.value, UndecodableOutput)
    assert "12000*12000 pixels, over the cap" in caught.value.detail
    assert fake_api.requests["download"] == 1


BOMB_SCRIPT = """
import io, resource, sys
from PIL import Image
from bot.core.requests import GenerationRequest
from bot.vibedream.errors import BadOutput
from bot.vibedream.outputs import prove_image
from tests.fakes.fake_vibedream import bomb_image

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

bombs = {fmt: bomb_image(fmt) for fmt in ("png", "jpeg", "webp")}
before = peak_mb()
for fmt, data in bombs.items():
    request = GenerationRequest(prompt="p", size="1024*1024", output_format=fmt)
    try:
        prove_image(data, "image/" + fmt, request)
    except BadOutput:
        pass
    else:
        sys.exit(fmt + " bomb accepted")
refused = peak_mb()
if "--decode" in sys.argv:  # what a naive decode of the same PNG costs
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(io.BytesIO(bombs["png"])) as image:
        image.load()
print(len(bombs["png"]), before, refused, peak_mb())
"""


def test_refusing_a_bomb_takes_no_memory() -> None:
    """In a fresh process, refusing the three bombs raises its peak memory by under 20 MB,
    where decoding the same 400 KiB PNG then takes over 400 MB."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, "--decode"],
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    size, before, refused, decoded = (float(n) for n in done.stdout.split())
    assert size < 700 * 1024
    assert refused - before < 20
    assert decoded - before > 400


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


RGB = Image.new("RGB", (96, 64), (10, 200, 30))
RGBA = Image.new("RGBA", (96, 64), (10, 200, 30, 128))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encoded(RGB, "JPEG"), "image/jpeg"),
        (encoded(RGB, "JPEG", progressive=True), "image/jpeg"),
        (encoded(RGB, "PNG"), "image/png"),
        (encoded(RGB, "GIF"), "image/gif"),
        (encoded(RGB, "WEBP"), "image/webp"),
        (encoded(RGB, "WEBP", lossless=True), "image/webp"),
        (encoded(RGBA, "WEBP"), "image/webp"),
    ],
    ids=["jpeg", "progressive-jpeg", "png", "gif", "webp", "webp-lossless", "webp-alpha"],
)
def test_sniff_and_header_agree_with_pillow(data: bytes, expected: str) -> None:
    """The type from the first bytes, and the size from the header, are what Pillow finds."""
    assert sniff_image_type(data[:12]) == expected
    header = read_header(data)
    assert header is not None
    assert (header.content_type, header.width, header.height) == (expected, 96, 64)


@pytest.mark.parametrize(
    "head", [b"", b"\xff\xd8", b"<!doctype html>", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"GIF90a"]
)
def test_sniff_refuses_what_is_not_an_image(head: bytes) -> None:
    """Short, textual or other-RIFF bytes are not an image type."""
    assert sniff_image_type(head) is None


def test_a_generic_content_type_is_judged_by_its_bytes() -> None:
    """application/octet-stream with PNG bytes is accepted; text/html never is."""
    request = GenerationRequest(prompt="p", size="512*512", output_format="png")
    data = encoded(Image.new("RGB", (512, 512)), "PNG")
    assert prove_image(data, "application/octet-stream", request).width == 512
    with pytest.raises(UndecodableOutput):
        prove_image(data, "text/html; charset=utf-8", request)


def test_a_jpeg_with_bytes_after_its_end_marker_is_decoded_instead() -> None:
    """Padding after EOI is not a fault: such a file is proved by a full decode instead."""
    request = GenerationRequest(prompt="p", size="512*512", output_format="jpeg")
    data = encoded(Image.new("RGB", (512, 512)), "JPEG") + b"\x00" * 16
    assert prove_image(data, "image/jpeg", request).height == 512
    with pytest.raises(UndecodableOutput):
        prove_image(data[: len(data) // 2], "image/jpeg", request)


def test_a_png_cut_inside_its_last_chunk_is_refused() -> None:
    """One byte short of IEND: a full decode would pass this file; the proof does not."""
    request = GenerationRequest(prompt="p", size="512*512", output_format="png")
    data = encoded(Image.new("RGB", (512, 512)), "PNG")
    with pytest.raises(UndecodableOutput):
        prove_image(data[:-1], "image/png", request)

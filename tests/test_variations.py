"""Variations and upscales of a result, as requests: pure rules, no Discord."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.core.requests import SIZES, GenerationRequest
from bot.core.variations import (
    STRONG_STRENGTH,
    SUBTLE_STRENGTH,
    UPSCALE_STRENGTH,
    aspect,
    upscale,
    upscale_size,
    variation,
)

RESULT_URL = "https://cdn.example/attachments/1/2/imagine-7.jpg"
ORIGINAL = GenerationRequest(
    prompt="a red kite", size="768*768", output_format="png", seed=77, strength=0.6
)


@pytest.mark.parametrize(
    ("size", "larger"),
    [
        ("512*512", "1024*1024"),
        ("768*768", "1024*1024"),
        ("1024*1024", None),
        ("1024*768", None),
        ("768*1024", None),
        ("1280*720", None),
        ("720*1280", None),
    ],
)
def test_upscale_size_keeps_the_shape(size: str, larger: str | None) -> None:
    """Upscale goes to the largest size of exactly the same aspect, or nowhere."""
    assert upscale_size(size) == larger  # type: ignore[arg-type]


def test_every_upscale_size_is_offered_and_larger() -> None:
    """Whatever size comes back is one the API accepts, of the same shape, and bigger."""
    for size in SIZES:
        larger = upscale_size(size)
        if larger is not None:
            assert larger in SIZES and aspect(larger) == aspect(size)
            assert int(larger.split("*")[0]) > int(size.split("*")[0])


def test_variations_keep_the_request_but_not_the_seed() -> None:
    """Subtle and Strong are image-to-image from the result at 0.3 and 0.7 with a new seed;
    prompt, size and format stay."""
    subtle = variation(ORIGINAL, RESULT_URL, "subtle")
    strong = variation(ORIGINAL, RESULT_URL, "strong")
    assert (subtle.strength, strong.strength) == (SUBTLE_STRENGTH, STRONG_STRENGTH) == (0.3, 0.7)
    for request in (subtle, strong):
        assert request.image == RESULT_URL and request.seed == -1
        assert (request.prompt, request.size, request.output_format) == (
            "a red kite",
            "768*768",
            "png",
        )


def test_upscale_request() -> None:
    """An upscale is the same prompt, seed and format at the larger size, at strength 0.2."""
    request = upscale(ORIGINAL, RESULT_URL)
    assert request is not None
    assert request.to_payload() == {
        "prompt": "a red kite",
        "size": "1024*1024",
        "seed": 77,
        "output_format": "png",
        "image": RESULT_URL,
        "strength": UPSCALE_STRENGTH,
    }
    assert UPSCALE_STRENGTH == 0.2


def test_no_upscale_at_the_largest_size() -> None:
    """A result already at the largest size of its shape has no upscale."""
    assert upscale(ORIGINAL.model_copy(update={"size": "1280*720"}), RESULT_URL) is None


def test_a_reference_that_is_not_a_web_address_is_refused() -> None:
    """The requests are validated again: a reference must be an http(s) URL."""
    with pytest.raises(ValidationError):
        variation(ORIGINAL, "file:///etc/passwd", "subtle")

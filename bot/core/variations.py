"""Working on from a result: a variation of it, or the same picture again at a larger size.
Each is a new image-to-image request made from the original request and the result's image.

The API cannot enlarge an image; "upscale" here means a new generation at the largest size of
the same shape, started from the result at a low strength, and the bot says so to the user."""

from __future__ import annotations

from math import gcd
from typing import Literal

from bot.core.requests import SIZES, GenerationRequest, Size

Variation = Literal["subtle", "strong"]

SUBTLE_STRENGTH = 0.3  # redraws the details and keeps the composition, colours and subject
STRONG_STRENGTH = 0.7  # keeps the subject and the idea, takes liberties with everything else
UPSCALE_STRENGTH = 0.2  # low: the same picture again with more detail, not a new one
VARIATION_STRENGTHS: dict[Variation, float] = {
    "subtle": SUBTLE_STRENGTH,
    "strong": STRONG_STRENGTH,
}


def _dimensions(size: Size) -> tuple[int, int]:
    width, height = size.split("*")
    return int(width), int(height)


def aspect(size: Size) -> tuple[int, int]:
    """The shape of a size, as the smallest whole ratio: 1024*768 -> (4, 3)."""
    width, height = _dimensions(size)
    divisor = gcd(width, height)
    return width // divisor, height // divisor


def upscale_size(size: Size) -> Size | None:
    """The largest size the API offers in exactly the same shape, or None if `size` is it."""
    same_shape = [other for other in SIZES if aspect(other) == aspect(size)]
    largest = max(same_shape, key=lambda other: _dimensions(other)[0])
    return None if largest == size else largest


def _from_result(original: GenerationRequest, **changes: object) -> GenerationRequest:
    # Validated again rather than model_copy'd, so a bad URL is refused here, not by the API.
    return GenerationRequest.model_validate({**original.model_dump(), **changes})


def variation(
    original: GenerationRequest, reference_url: str, kind: Variation
) -> GenerationRequest:
    """The same prompt, size and format from the result's image, with a new seed."""
    return _from_result(original, image=reference_url, strength=VARIATION_STRENGTHS[kind], seed=-1)


def upscale(original: GenerationRequest, reference_url: str) -> GenerationRequest | None:
    """The result redrawn at the largest size of its shape, keeping its seed (nothing here
    is meant to vary); None when it is already that size."""
    larger = upscale_size(original.size)
    if larger is None:
        return None
    return _from_result(original, image=reference_url, strength=UPSCALE_STRENGTH, size=larger)

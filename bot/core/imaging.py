"""Image work the bot does itself: making a result fit an upload limit, checking references."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from bot.core.refusals import Refused
from bot.core.requests import GeneratedImage, OutputFormat
from bot.core.texts import N_

# What the provider accepts as a reference image, by MIME type.
REFERENCE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MAX_REFERENCE_BYTES = 20 * 1024 * 1024
# Larger than any camera or screen; what Discord declares beyond it is not a usable picture.
MAX_REFERENCE_PIXELS = 64_000_000

# Lossy re-encodes tried in order when a result is over the upload limit: WebP keeps more detail
# per byte than JPEG, and both shrink a PNG many times over.
_REENCODES: tuple[tuple[OutputFormat, int], ...] = (
    ("webp", 92),
    ("jpeg", 92),
    ("webp", 80),
    ("jpeg", 80),
    ("webp", 65),
    ("jpeg", 65),
)
_PILLOW_NAMES: dict[OutputFormat, str] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class Reference:
    """An image a user pointed at for image-to-image, as Discord describes it."""

    url: str
    filename: str
    content_type: str | None
    size: int
    width: int | None  # as Discord measured it; None when Discord could not read an image
    height: int | None


class ReferenceRefused(Refused):
    pass


def check_reference(reference: Reference) -> None:
    """Refuse, before anything is spent, a reference the provider cannot use."""
    content_type = (reference.content_type or "").split(";")[0].strip().lower()
    if content_type not in REFERENCE_TYPES:
        raise ReferenceRefused(N_("The reference must be a JPEG, PNG, GIF or WebP image."))
    if reference.size <= 0:
        raise ReferenceRefused(N_("That reference file is empty; attach the picture again."))
    if reference.size > MAX_REFERENCE_BYTES:
        raise ReferenceRefused(
            N_("The reference image is over {limit} MiB; try a smaller one."),
            limit=MAX_REFERENCE_BYTES // (1024 * 1024),
        )
    width, height = reference.width or 0, reference.height or 0
    if width <= 0 or height <= 0:
        raise ReferenceRefused(N_("Discord could not read that file as a picture; try another."))
    if width * height > MAX_REFERENCE_PIXELS:
        raise ReferenceRefused(
            N_("That reference image is too large in pixels; try a smaller one.")
        )


def fit_for_upload(image: GeneratedImage, limit_bytes: int) -> GeneratedImage | None:
    """The image itself when it fits, else the best lossy re-encode that does, else None.

    Synchronous and CPU-bound: call it in a worker thread.
    """
    if len(image.data) <= limit_bytes:
        return image
    with Image.open(io.BytesIO(image.data)) as opened:
        pixels = opened.convert("RGB")
    for output_format, quality in _REENCODES:
        buffer = io.BytesIO()
        pixels.save(buffer, _PILLOW_NAMES[output_format], quality=quality)
        if buffer.tell() <= limit_bytes:
            return GeneratedImage(buffer.getvalue(), output_format, image.width, image.height)
    return None

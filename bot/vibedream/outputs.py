"""A prediction's output: where it may be fetched from, fetching it, and proving it is the
image that was asked for before anyone sees it.

Proof, cheapest first, each step refusing before the next costs anything:
1. the content type is an image (or a generic binary type) and the first bytes are the format
   asked for (`sniff_image_type`);
2. the header, parsed here without Pillow, declares the asked width and height, and no more
   than MAX_OUTPUT_PIXELS: a decompression bomb is refused before any pixel memory exists;
3. Pillow reads the header (lazily, no decode) and must agree;
4. an integrity check per format, the cheapest that still refuses a truncated or corrupt file:
   - JPEG: the file ends with the EOI marker (FFD9). JPEG carries no checksum, so a full
     decode proves no more than this (it refuses truncated files and accepts flipped bytes
     alike); a file that does not end at EOI (trailing padding) gets the full decode instead.
   - PNG: `verify()`, which checks every chunk's CRC up to IEND without inflating the image,
     and the complete IEND chunk is present. A full decode misses a file cut inside IEND.
   - WebP: a full decode. Lossy WebP carries no checksum and Pillow's open already refuses a
     truncated file, but only decoding notices corrupt bytes in the bitstream (most, not all
     of them); at the model's sizes it costs 10-20 ms, off the event loop.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from PIL import Image

from bot.core.requests import CONTENT_TYPES, GeneratedImage, GenerationRequest, OutputFormat
from bot.vibedream.errors import (
    BadOutput,
    OutputMissing,
    ProviderUnavailable,
    RateLimited,
    UndecodableOutput,
    VibeDreamError,
)
from bot.vibedream.wire import retry_after_seconds

log = logging.getLogger(__name__)

# Where the provider's page says outputs live. The API's own host is always allowed as well.
DEFAULT_ASSETS_HOSTS: tuple[str, ...] = ("assets.vibedream.ai",)
# A bound on what any header may declare, whatever was asked: 4096*4096 is 64 MiB as RGBA.
MAX_OUTPUT_PIXELS = 4096 * 4096

_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_PILLOW_FORMATS: dict[str, OutputFormat] = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_EOI = b"\xff\xd9"
# Start-of-frame markers, the ones that carry the image size (not DHT, JPG or DAC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_MISSING_STATUSES = frozenset({401, 403, 404, 410})
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def sniff_image_type(head: bytes) -> str | None:
    """The MIME type of an image from its first bytes (12 are enough): "image/jpeg",
    "image/png", "image/gif" or "image/webp"; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(_PNG_SIGNATURE):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class ImageHeader:
    content_type: str
    width: int
    height: int


def read_header(data: bytes) -> ImageHeader | None:
    """Type and declared size from the header alone, without Pillow and without allocating
    anything for pixels; None when the header is not one we can read."""
    content_type = sniff_image_type(data[:12])
    try:
        match content_type:
            case "image/png":
                if data[12:16] != b"IHDR":
                    return None
                width, height = struct.unpack(">II", data[16:24])
            case "image/gif":
                width, height = struct.unpack("<HH", data[6:10])
            case "image/webp":
                size = _webp_size(data)
                if size is None:
                    return None
                width, height = size
            case "image/jpeg":
                size = _jpeg_size(data)
                if size is None:
                    return None
                width, height = size
            case _:
                return None
    except struct.error:
        return None
    if width <= 0 or height <= 0:
        return None
    return ImageHeader(content_type, width, height)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20:21] == b"\x2f":
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the marker segments to the first start-of-frame, as a decoder would."""
    position = 2
    while position < len(data):
        if data[position] != 0xFF:
            return None
        while position < len(data) and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= len(data):
            return None
        marker = data[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame
            return None
        (length,) = struct.unpack(">H", data[position : position + 2])
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[position + 3 : position + 7])
            return width, height
        position += length
    return None


class AssetPolicy:
    """Which output URLs may be fetched: http(s) only, https unless the API itself is reached
    over http (the local fakes), and only from the API's own host or a configured assets host.
    Names are compared exactly (no subdomain wildcards); no user:password@ part."""

    def __init__(self, api_base_url: str, assets_hosts: Collection[str]) -> None:
        if isinstance(assets_hosts, str):
            assets_hosts = [assets_hosts]
        api = urlsplit(api_base_url)
        self.hosts = frozenset(
            host for host in (_host(api.hostname), *map(_host, assets_hosts)) if host
        )
        self.schemes = frozenset({"https", api.scheme.lower()} & {"https", "http"})

    def check(self, url: str) -> None:
        """Raise BadOutput, without any request, unless `url` may be fetched."""
        try:
            parts = urlsplit(url)
            host = _host(parts.hostname)
        except ValueError:
            raise BadOutput("output URL does not parse") from None
        if parts.scheme.lower() not in self.schemes:
            raise BadOutput(f"output URL scheme {parts.scheme or 'none'!r} is not allowed")
        if parts.username is not None or parts.password is not None:
            raise BadOutput("output URL carries credentials")
        if host not in self.hosts:
            raise BadOutput(f"output host {host or 'none'} is not an allowed assets host")


def _host(name: str | None) -> str:
    return (name or "").strip().rstrip(".").lower()


def download_error_for_status(status: int, headers: Any) -> VibeDreamError:
    """What a non-200 answer from the assets host means. Nothing here is about the bot's key
    or the user's settings: the key is never sent there, and the settings were accepted."""
    detail = f"download HTTP {status}"
    if 300 <= status < 400:
        return BadOutput(f"{detail}: redirect not followed", status=status)
    if status in _MISSING_STATUSES:
        return OutputMissing(detail, status=status)
    if status == 429:
        return RateLimited(detail, status=status, retry_after=retry_after_seconds(headers))
    if status >= 500 or status == 408:
        return ProviderUnavailable(detail, status=status, retry_after=retry_after_seconds(headers))
    return BadOutput(detail, status=status)


async def fetch_output(
    session: aiohttp.ClientSession,
    url: str,
    *,
    client_timeout: aiohttp.ClientTimeout,
    max_bytes: int,
) -> tuple[bytes, str]:
    """One GET of an output, streamed with a byte cap, redirects not followed. Returns the
    body and its content type. No Authorization header: the key only goes to the API."""
    try:
        async with session.get(url, timeout=client_timeout, allow_redirects=False) as response:
            if response.status != 200:
                raise download_error_for_status(response.status, response.headers)
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise BadOutput(f"output of {declared} bytes is over the cap")
            chunks, received = [], 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += len(chunk)
                if received > max_bytes:
                    raise BadOutput(f"output over {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("Content-Type", "")
    except (TimeoutError, aiohttp.ClientError) as error:
        raise ProviderUnavailable(f"download failed: {type(error).__name__}") from None


def prove_image(data: bytes, content_type: str, request: GenerationRequest) -> GeneratedImage:
    """The output as a GeneratedImage once it is proved to be the complete image of the format
    and size asked for. UndecodableOutput when it is not an intact image (worth fetching
    again); BadOutput when it is an image, but not the one asked for."""
    declared = content_type.split(";")[0].strip().lower()
    if not declared.startswith("image/") and declared not in _GENERIC_TYPES:
        raise UndecodableOutput(f"output has content type {declared}")
    wanted = CONTENT_TYPES[request.output_format]
    found = sniff_image_type(data[:12])
    if found is None:
        raise UndecodableOutput(f"output of {len(data)} bytes is not an image")
    if found != wanted:
        raise BadOutput(f"asked for {wanted}, got {found}")
    header = read_header(data)
    if header is None:
        raise UndecodableOutput(f"{found} header does not parse")
    size = (header.width, header.height)
    if header.width * header.height > MAX_OUTPUT_PIXELS:
        raise BadOutput(f"output declares {size[0]}*{size[1]} pixels, over the cap")
    if size != request.dimensions:
        raise BadOutput(f"asked for {request.size}, got {size[0]}*{size[1]}")
    try:
        with Image.open(io.BytesIO(data), formats=[request.output_format.upper()]) as image:
            pillow = (_PILLOW_FORMATS.get(image.format or ""), image.size)
            if pillow != (request.output_format, size):
                raise BadOutput(f"header says {size}, Pillow says {pillow}")
            if getattr(image, "n_frames", 1) != 1:
                raise BadOutput("output is animated")
            _check_integrity(image, data, request.output_format)
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as error:
        raise UndecodableOutput(f"{found} is not intact: {type(error).__name__}") from None
    return GeneratedImage(data, request.output_format, header.width, header.height)


def _check_integrity(image: Image.Image, data: bytes, output_format: OutputFormat) -> None:
    """Raise (one of _DECODE_ERRORS) unless the file is complete and uncorrupted, as far as
    the format lets us know; see the module's docstring for why each check is enough."""
    match output_format:
        case "jpeg":
            if not data.endswith(_JPEG_EOI):
                image.load()  # trailing bytes after EOI are harmless; a cut file fails here
        case "png":
            image.verify()
            if _PNG_IEND not in data[-64 * 1024 :]:
                raise EOFError("PNG ends before its IEND chunk")
        case "webp":
            image.load()

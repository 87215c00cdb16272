"""What can be asked of the image model: the size and format vocabulary, one generation's
validated parameters, and the image that comes back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Size = Literal["512*512", "768*768", "1024*1024", "1024*768", "768*1024", "1280*720", "720*1280"]
OutputFormat = Literal["jpeg", "png", "webp"]
SIZES: tuple[Size, ...] = get_args(Size)
FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
MAX_SEED = 2_147_483_647
MAX_PROMPT_LENGTH = 1500
MAX_IMAGES_PER_REQUEST = 4  # one message shows up to four as a grid
CONTENT_TYPES: dict[OutputFormat, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}


class GenerationRequest(BaseModel):
    """One generation's parameters, validated against the documented ranges before any call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_LENGTH)
    size: Size = "1024*1024"
    output_format: OutputFormat = "jpeg"
    seed: int = Field(-1, ge=-1, le=MAX_SEED)
    strength: float = Field(0.6, ge=0.0, le=1.0)
    image: str | None = None
    # The server style the prompt was composed with, for the record: not sent to the API.
    style_name: str | None = Field(None, max_length=64)

    @field_validator("prompt")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the prompt is empty")
        return value

    @field_validator("strength")
    @classmethod
    def _tenths(cls, value: float) -> float:
        tenths = round(value * 10)
        if abs(value * 10 - tenths) > 1e-6:
            raise ValueError("strength goes in steps of 0.1")
        return tenths / 10

    @field_validator("image")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("the reference image must be an http(s) URL")
        return value

    @property
    def dimensions(self) -> tuple[int, int]:
        width, height = self.size.split("*")
        return int(width), int(height)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "prompt": self.prompt,
            "size": self.size,
            "seed": self.seed,
            "output_format": self.output_format,
        }
        if self.image is not None:  # strength only means something with a reference image
            payload["image"] = self.image
            payload["strength"] = self.strength
        return payload


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    output_format: OutputFormat
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.output_format]

    @property
    def extension(self) -> str:
        return "jpg" if self.output_format == "jpeg" else self.output_format

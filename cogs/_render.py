"""How generations look in Discord: progress lines, the result embed, failure lines."""

from __future__ import annotations

import discord

from bot.jobs import JobResult
from bot.polling import Estimate
from bot.vibedream import SIZES, Size

EMBED_COLOUR = discord.Colour.from_rgb(124, 92, 255)
PROMPT_IN_EMBED = 1000  # of the 4096 a description allows: room for the details beside it
BAR_CELLS = 12

SIZE_NAMES: dict[Size, str] = {
    "1024*1024": "Square 1024×1024",
    "768*768": "Square 768×768",
    "512*512": "Square 512×512 (fastest)",
    "1024*768": "Landscape 1024×768",
    "1280*720": "Widescreen 1280×720",
    "768*1024": "Portrait 768×1024",
    "720*1280": "Tall 720×1280",
}
assert set(SIZE_NAMES) == set(SIZES)


def size_label(size: str) -> str:
    return size.replace("*", "×")


def money(cents: int | None) -> str:
    return "unknown" if cents is None else f"${cents / 100:.2f}"


def queued_line() -> str:
    return "⏳ Queued…"


def progress_line(elapsed: float, estimate: Estimate | None, phase: str) -> str:
    """One line: what is happening, a bar against the provider's estimate, and the time."""
    if estimate is None:
        return f"⏳ {phase}… {elapsed:.1f}s"
    filled = min(BAR_CELLS, round(BAR_CELLS * elapsed / max(estimate.high, 0.1)))
    bar = "▰" * filled + "▱" * (BAR_CELLS - filled)
    return f"🎨 {phase}… `{bar}` {elapsed:.1f}s (usually {estimate})"


def failure_line(message: str) -> str:
    return f"❌ {message}"


def trimmed(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def result_embed(
    result: JobResult, filename: str, requester: discord.abc.User, *, reference_url: str | None
) -> discord.Embed:
    """The finished image and every detail needed to make it again."""
    request = result.request
    prompt = trimmed(discord.utils.escape_markdown(request.prompt), PROMPT_IN_EMBED)
    embed = discord.Embed(description=prompt, colour=EMBED_COLOUR)
    embed.set_author(name=requester.display_name, icon_url=requester.display_avatar.url)
    embed.add_field(name="Size", value=size_label(request.size))
    embed.add_field(name="Format", value=result.image.output_format.upper())
    embed.add_field(name="Seed", value=f"`{request.seed}`")
    if reference_url is not None:
        embed.add_field(name="Strength", value=f"{request.strength:.1f}")
        embed.add_field(name="Reference", value=f"[image]({reference_url})")
    embed.add_field(name="Time", value=f"{result.seconds:.1f}s")
    embed.add_field(name="Cost", value=money(result.cost_cents))
    embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=f"Job {result.job_id} · Z-Image Turbo")
    return embed

"""How generations look in Discord: progress lines, the result embed, failure lines."""

from __future__ import annotations

import math

import discord
from discord import app_commands

from bot.core.limits import ChannelNotAllowed, LimitReached, Limits
from bot.core.models import GuildSettings, Job, Tally
from bot.core.polling import Estimate
from bot.core.quotes import Quote
from bot.core.refusals import Refused
from bot.core.requests import FORMATS, MAX_IMAGES_PER_REQUEST, SIZES, GenerationRequest, Size
from bot.core.runner import JobResult
from bot.core.usage import Allowance, MemberReport, ServerReport

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
# The choices /imagine and /limits defaults offer.
SIZE_CHOICES = [app_commands.Choice(name=SIZE_NAMES[size], value=size) for size in SIZES]
FORMAT_CHOICES = [app_commands.Choice(name=name.upper(), value=name) for name in FORMATS]


def size_label(size: str) -> str:
    return size.replace("*", "×")


def money(cents: int | None) -> str:
    return "unknown" if cents is None else f"${cents / 100:.2f}"


TOO_LARGE = "The image is too large to upload here."
NOT_STARTED = (
    "The bot restarted before your image was started; nothing was charged. Please try again."
)
MAY_HAVE_BEEN_CHARGED = (
    "The bot restarted while sending your request, so it may have been charged, and is "
    "counted as spent. No image came of it; please try again."
)
NOT_MADE = "Your image could not be made."
WILL_DELIVER_AFTER_RESTART = (
    "⏳ The bot is restarting; your image will be delivered when it is back."
)
PREVIEW_CONFIRMED = "Confirmed: your images are on their way below."
PREVIEW_CANCELLED = "Cancelled: nothing was spent."
PREVIEW_EXPIRED = "This preview lapsed: nothing was spent. Ask again when you are ready."


def cost_preview(quote: Quote) -> str:
    """What a request will cost, and what the server's budgets have left, before it is spent."""
    images = "1 image" if quote.count == 1 else f"{quote.count} images"
    lines = [
        f"💰 {images} will cost about {money(quote.total_cents)} "
        f"({money(quote.cents_each)} each, the service's last price)."
    ]
    for period, left in (("today", quote.left_today), ("this month", quote.left_this_month)):
        if left is not None:
            lines.append(f"This server's budget has {money(left)} left {period}.")
    lines.append("Nothing is spent until you confirm.")
    return "\n".join(lines)


STOPPED_WAITING = (
    "⏹️ Stopped waiting. An image the service has started can't be called back: it is still "
    "being made and paid for, and will appear here quietly when it is ready."
)
NOT_YOURS_TO_CANCEL = "Only the person who asked for this image, or a moderator, can cancel it."
NOTHING_TO_CANCEL = "That image isn't waiting any more."
NO_IMAGE_LEFT = "That result has no image left to work from."
ALREADY_LARGEST = "That image is already the largest size of its shape."


def upscale_note(size: str) -> str:
    """Above an Upscale's result: the API redraws, it does not enlarge pixels."""
    return f"⬆️ A new generation at {size_label(size)} from this image, not a pixel upscale."


def queued_line() -> str:
    return "⏳ Queued…"


def options_won_line(names: list[str]) -> str:
    """A member gave an option and a flag for the same thing, differently."""
    listed = " and ".join(names)
    return f"You gave {listed} both as an option and as a flag in the prompt; I used the option."


def waiting_line(place: int, seconds_left: float | None) -> str:
    """A job waiting for the provider to take more: where it stands, and roughly how long
    until its image, from how long recent ones took."""
    line = f"⏳ Waiting for the image service: number {place} in line…"
    return line if seconds_left is None else f"{line} about {math.ceil(seconds_left)}s left"


def set_progress_line(done: int, count: int, elapsed: float, estimate: Estimate | None) -> str:
    """A set's one line: how many of its images are made, against the slowest one's time."""
    line = progress_line(elapsed, estimate).replace("Generating…", f"Generating {count} images…")
    return f"{line} · {done} of {count} done" if done else line


def progress_line(elapsed: float, estimate: Estimate | None) -> str:
    """One line: a bar against the provider's estimate, and the time so far."""
    if estimate is None:
        return f"⏳ Generating… {elapsed:.1f}s"
    filled = min(BAR_CELLS, round(BAR_CELLS * elapsed / max(estimate.high, 0.1)))
    bar = "▰" * filled + "▱" * (BAR_CELLS - filled)
    return f"🎨 Generating… `{bar}` {elapsed:.1f}s (usually {estimate})"


SPOILER_POLICIES = {
    None: "results shown",
    "spoiler": "results behind a spoiler",
    "refuse": "no images made",
}
MAX_REPLY = 1900  # under Discord's 2,000 characters, whatever was echoed into it


def failure_line(message: str) -> str:
    return trimmed(f"❌ {message}", MAX_REPLY)


def refusal_text(refusal: Refused) -> str:
    """The core's sentence, with what only Discord can show: reset times, channel links."""
    text = refusal.message
    if isinstance(refusal, LimitReached) and refusal.resets_at is not None:
        text += f" It resets {discord.utils.format_dt(refusal.resets_at, 'R')}."
    if isinstance(refusal, ChannelNotAllowed):
        channels = " ".join(f"<#{channel_id}>" for channel_id in sorted(refusal.channel_ids))
        text += f" Try {channels}."
    return trimmed(text, MAX_REPLY)


def trimmed(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def result_embed(
    result: JobResult,
    filename: str | None,
    requester: discord.abc.User | None,
    *,
    reference_url: str | None,
) -> discord.Embed:
    """The finished image (when `filename` names the attachment to show in it) and every
    detail needed to make it again."""
    request = result.request
    prompt = trimmed(discord.utils.escape_markdown(request.prompt), PROMPT_IN_EMBED)
    embed = discord.Embed(description=prompt, colour=EMBED_COLOUR)
    if requester is not None:
        embed.set_author(name=requester.display_name, icon_url=requester.display_avatar.url)
    embed.add_field(name="Size", value=size_label(request.size))
    embed.add_field(name="Format", value=result.image.output_format.upper())
    embed.add_field(name="Seed", value=f"`{request.seed}`")
    add_style_field(embed, request)
    if reference_url is not None:
        embed.add_field(name="Strength", value=f"{request.strength:.1f}")
        embed.add_field(name="Reference", value=f"[image]({reference_url})")
    embed.add_field(name="Time", value=f"{result.seconds:.1f}s")
    embed.add_field(name="Cost", value=money(result.cost_cents))
    if filename is not None:
        embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=f"Job {result.job_id} · Z-Image Turbo")
    return embed


def set_embed(
    results: list[tuple[int, JobResult]],
    failures: dict[int, str],
    requester: discord.abc.User | None,
    *,
    reference_url: str | None,
) -> discord.Embed:
    """The details of a set of images shown above it, each numbered as its buttons are."""
    first = results[0][1]
    request = first.request
    prompt = trimmed(discord.utils.escape_markdown(request.prompt), PROMPT_IN_EMBED)
    embed = discord.Embed(description=prompt, colour=EMBED_COLOUR)
    if requester is not None:
        embed.set_author(name=requester.display_name, icon_url=requester.display_avatar.url)
    embed.add_field(name="Size", value=size_label(request.size))
    embed.add_field(name="Format", value=first.image.output_format.upper())
    add_style_field(embed, request)
    seeds = " · ".join(f"{number}: `{result.request.seed}`" for number, result in results)
    embed.add_field(name="Seeds", value=seeds)
    if reference_url is not None:
        embed.add_field(name="Strength", value=f"{request.strength:.1f}")
        embed.add_field(name="Reference", value=f"[image]({reference_url})")
    embed.add_field(name="Time", value=f"{max(result.seconds for _, result in results):.1f}s")
    costs = [result.cost_cents for _, result in results]
    embed.add_field(name="Cost", value=money(None if None in costs else sum(filter(None, costs))))
    if failures:
        missing = "\n".join(f"{number}: {trimmed(text, 200)}" for number, text in failures.items())
        embed.add_field(name="Not made", value=missing, inline=False)
    ids = ", ".join(str(result.job_id) for _, result in results)
    embed.set_footer(text=f"Jobs {ids} · Z-Image Turbo")
    return embed


def add_style_field(embed: discord.Embed, request: GenerationRequest) -> None:
    """The server style a prompt was composed with; the prompt shown is the one sent."""
    if request.style_name:
        embed.add_field(name="Style", value=discord.utils.escape_markdown(request.style_name))


def mod_log_embed(job: Job, result_url: str | None, failure: str | None) -> discord.Embed:
    """A moderation-log entry. Mentions inside an embed never ping."""
    embed = discord.Embed(
        title="Image failed" if failure else "Image made",
        description=trimmed(discord.utils.escape_markdown(job.request.prompt), PROMPT_IN_EMBED),
        colour=discord.Colour.red() if failure else EMBED_COLOUR,
        timestamp=discord.utils.utcnow(),
    )
    embed.add_field(name="Member", value=f"<@{job.requester.user_id}>")
    embed.add_field(name="Channel", value=f"<#{job.requester.channel_id}>")
    if result_url:
        embed.add_field(name="Result", value=f"[Jump to it]({result_url})")
    if failure:
        embed.add_field(name="Why", value=trimmed(failure, 1024), inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return embed


def _limit(value: int | None, unit: str = "") -> str:
    return "no limit" if value is None else f"{value}{unit}"


def _cents_limit(value: int | None) -> str:
    return "no limit" if value is None else money(value)


def limits_embed(
    limits: Limits, settings: GuildSettings, defaults: tuple[str, str], note: str | None
) -> discord.Embed:
    """Every limit in force, for /limits."""
    zone_name = limits.timezone.key
    embed = discord.Embed(
        title="Limits in this server",
        description=(note + "\n" if note else "")
        + f"Days and months reset at midnight **{zone_name}**.",
        colour=EMBED_COLOUR,
    )
    embed.add_field(name="Images per member per day", value=_limit(limits.user_daily_images))
    embed.add_field(name="Cooldown per member", value=_limit(limits.user_cooldown_seconds, " s"))
    embed.add_field(name="In progress per member", value=_limit(limits.user_max_concurrent))
    embed.add_field(
        name="Server budget per day", value=_cents_limit(limits.guild_daily_budget_cents)
    )
    embed.add_field(
        name="Server budget per month", value=_cents_limit(limits.guild_monthly_budget_cents)
    )
    channels = " ".join(f"<#{c}>" for c in sorted(limits.channel_ids)) or "all channels"
    embed.add_field(name="/imagine allowed in", value=channels, inline=False)
    terms = ", ".join(f"“{discord.utils.escape_markdown(t)}”" for t in limits.blocked_terms)
    embed.add_field(name="Blocked words", value=trimmed(terms or "none", 1024), inline=False)
    embed.add_field(
        name="Moderation log",
        value=f"<#{settings.log_channel_id}>" if settings.log_channel_id else "off",
    )
    embed.add_field(
        name="Exempt role",
        value=f"<@&{settings.exempt_role_id}>" if settings.exempt_role_id else "none",
    )
    embed.add_field(
        name="Outside age-restricted channels",
        value=SPOILER_POLICIES.get(settings.spoiler_policy, SPOILER_POLICIES[None]),
    )
    embed.add_field(
        name="Images per request",
        value=str(settings.max_images_per_request or MAX_IMAGES_PER_REQUEST),
    )
    embed.add_field(
        name="Confirm the cost above",
        value=money(settings.confirm_above_cents) if settings.confirm_above_cents else "never",
    )
    embed.add_field(
        name="Personal suffixes",
        value="ignored" if settings.personal_suffixes is False else "added to prompts",
    )
    size, output_format = defaults
    embed.add_field(
        name="Default image", value=f"{size_label(size)}, {output_format.upper()}", inline=False
    )
    return embed


def _tally(tally: Tally) -> str:
    return f"{tally.images} images · {money(tally.cents)}"


def _allowance(allowance: Allowance) -> str:
    show = money if allowance.in_cents else str
    text = f"{show(allowance.left)} left of {show(allowance.cap)}"
    if allowance.resets_at is not None:
        text += f" · resets {discord.utils.format_dt(allowance.resets_at, 'R')}"
    return text


def _add_totals(embed: discord.Embed, report: MemberReport | ServerReport) -> None:
    embed.add_field(name="Today", value=_tally(report.today))
    embed.add_field(name="This month", value=_tally(report.month))
    embed.add_field(name="All time", value=_tally(report.all_time))
    for allowance in report.allowances:
        embed.add_field(name=allowance.name, value=_allowance(allowance))


def member_usage_embed(report: MemberReport, member: discord.abc.User) -> discord.Embed:
    embed = discord.Embed(title=f"Usage of {member.display_name}", colour=EMBED_COLOUR)
    _add_totals(embed, report)
    if report.ready_at is not None:
        embed.add_field(
            name="Cooldown", value=f"ready {discord.utils.format_dt(report.ready_at, 'R')}"
        )
    if report.exempt:
        embed.set_footer(text="Exempt from the per-member limits by role.")
    return embed


def server_usage_embed(report: ServerReport, *, chart: str) -> discord.Embed:
    embed = discord.Embed(title="Usage of this server", colour=EMBED_COLOUR)
    _add_totals(embed, report)
    leaders = "\n".join(
        f"{rank}. <@{entry.user_id}>: {_tally(entry.tally)}"
        for rank, entry in enumerate(report.top_members, start=1)
    )
    embed.add_field(name="Top members this month", value=leaders or "nobody yet", inline=False)
    embed.set_image(url=f"attachment://{chart}")
    return embed


def job_details_embed(job: Job) -> discord.Embed:
    """Everything about a job, for the Details button: enough to make the image again."""
    request = job.request
    prompt = trimmed(discord.utils.escape_markdown(request.prompt), 4000)
    embed = discord.Embed(title=f"Job {job.id}", description=prompt, colour=EMBED_COLOUR)
    embed.add_field(name="Size", value=size_label(request.size))
    embed.add_field(name="Format", value=request.output_format.upper())
    embed.add_field(name="Seed", value=f"`{request.seed}`")
    add_style_field(embed, request)
    if request.image:
        embed.add_field(name="Strength", value=f"{request.strength:.1f}")
        embed.add_field(name="Reference", value=f"[image]({request.image})")
    embed.add_field(name="Cost", value=money(job.cost_cents))
    if job.submitted_at and job.finished_at:
        embed.add_field(name="Time", value=f"{job.finished_at - job.submitted_at:.1f}s")
    embed.add_field(name="Requested by", value=f"<@{job.requester.user_id}>")
    embed.add_field(name="State", value=job.state.value)
    return embed

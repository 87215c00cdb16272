"""How generations look in Discord: progress lines, the result embed, failure lines."""

from __future__ import annotations

import math

import discord
from babel.dates import get_month_names
from babel.lists import format_list
from babel.numbers import format_currency
from discord import app_commands

from bot.core.charts import ENGLISH_WORDS, ChartWords
from bot.core.limits import WOULD_FIT, ChannelNotAllowed, LimitReached, Limits
from bot.core.models import GuildSettings, Job, JobState, Tally
from bot.core.polling import Estimate
from bot.core.quotes import Quote
from bot.core.refusals import Refused
from bot.core.requests import (
    FORMATS,
    MAX_IMAGES_PER_REQUEST,
    SIZES,
    GenerationRequest,
    OutputFormat,
    Size,
)
from bot.core.runner import JobResult
from bot.core.usage import Allowance, MemberReport, ServerReport
from cogs._i18n import N_, _, current_language

EMBED_COLOUR = discord.Colour.from_rgb(124, 92, 255)
PROMPT_IN_EMBED = 1000  # of the 4096 a description allows: room for the details beside it
BAR_CELLS = 12

SIZE_NAMES: dict[Size, str] = {
    "1024*1024": N_("Square 1024×1024"),
    "768*768": N_("Square 768×768"),
    "512*512": N_("Square 512×512 (fastest)"),
    "1024*768": N_("Landscape 1024×768"),
    "1280*720": N_("Widescreen 1280×720"),
    "768*1024": N_("Portrait 768×1024"),
    "720*1280": N_("Tall 720×1280"),
}
assert set(SIZE_NAMES) == set(SIZES)
FORMAT_NAMES: dict[OutputFormat, str] = {"jpeg": N_("JPEG"), "png": N_("PNG"), "webp": N_("WEBP")}
assert set(FORMAT_NAMES) == set(FORMATS)
# The choices /imagine and /limits defaults offer (discord.py has them translated at sync).
SIZE_CHOICES = [app_commands.Choice(name=SIZE_NAMES[size], value=size) for size in SIZES]
FORMAT_CHOICES = [app_commands.Choice(name=FORMAT_NAMES[name], value=name) for name in FORMATS]


def size_label(size: str) -> str:
    return size.replace("*", "×")


def money(cents: int | None) -> str:
    """Dollars as the member's language writes them: $1.50, 1,50 $US..."""
    if cents is None:
        return _("unknown")
    return format_currency(cents / 100, "USD", locale=current_language())


TOO_LARGE = N_("The image is too large to upload here.")
NOT_STARTED = N_(
    "The bot restarted before your image was started; nothing was charged. Please try again."
)
MAY_HAVE_BEEN_CHARGED = N_(
    "The bot restarted while sending your request, so it may have been charged, and is "
    "counted as spent. No image came of it; please try again."
)
NOT_MADE = N_("Your image could not be made.")
WILL_DELIVER_AFTER_RESTART = N_(
    "⏳ The bot is restarting; your image will be delivered when it is back."
)
PREVIEW_CONFIRMED = N_("Confirmed: your images are on their way below.")
PREVIEW_CANCELLED = N_("Cancelled: nothing was spent.")
PREVIEW_EXPIRED = N_("This preview lapsed: nothing was spent. Ask again when you are ready.")


def cost_preview(quote: Quote) -> str:
    """What a request will cost, and what the server's budgets have left, before it is spent."""
    total, each = money(quote.total_cents), money(quote.cents_each)
    if quote.count == 1:
        cost = _(
            "💰 1 image will cost about {total} ({each} each, the service's last price).",
            total=total,
            each=each,
        )
    else:
        cost = _(
            "💰 {count} images will cost about {total} ({each} each, the service's last price).",
            count=quote.count,
            total=total,
            each=each,
        )
    lines = [cost]
    if quote.left_today is not None:
        lines.append(_("This server's budget has {left} left today.", left=money(quote.left_today)))
    if quote.left_this_month is not None:
        left = money(quote.left_this_month)
        lines.append(_("This server's budget has {left} left this month.", left=left))
    lines.append(_("Nothing is spent until you confirm."))
    return "\n".join(lines)


STOPPED_WAITING = N_(
    "⏹️ Stopped waiting. An image the service has started can't be called back: it is still "
    "being made and paid for, and will appear here quietly when it is ready."
)
NOT_YOURS_TO_CANCEL = N_("Only the person who asked for this image, or a moderator, can cancel it.")
NOTHING_TO_CANCEL = N_("That image isn't waiting any more.")
NO_IMAGE_LEFT = N_("That result has no image left to work from.")
ALREADY_LARGEST = N_("That image is already the largest size of its shape.")


def upscale_note(size: str) -> str:
    """Above an Upscale's result: the API redraws, it does not enlarge pixels."""
    return _(
        "⬆️ A new generation at {size} from this image, not a pixel upscale.",
        size=size_label(size),
    )


def queued_line() -> str:
    return _("⏳ Queued…")


# The options a flag can also set, as a sentence names them.
OPTION_WORDS = {"size": N_("size"), "format": N_("format"), "seed": N_("seed")}


def options_won_line(names: list[str]) -> str:
    """A member gave an option and a flag for the same thing, differently."""
    listed = format_list([_(OPTION_WORDS[name]) for name in names], locale=current_language())
    return _(
        "You gave {options} both as an option and as a flag in the prompt; I used the option.",
        options=listed,
    )


def waiting_line(place: int, seconds_left: float | None) -> str:
    """A job waiting for the provider to take more: where it stands, and roughly how long
    until its image, from how long recent ones took."""
    if seconds_left is None:
        return _("⏳ Waiting for the image service: number {place} in line…", place=place)
    return _(
        "⏳ Waiting for the image service: number {place} in line… about {seconds}s left",
        place=place,
        seconds=math.ceil(seconds_left),
    )


def set_progress_line(done: int, count: int, elapsed: float, estimate: Estimate | None) -> str:
    """A set's one line: how many of its images are made, against the slowest one's time."""
    line = progress_line(elapsed, estimate, count=count)
    return _("{line} · {done} of {count} done", line=line, done=done, count=count) if done else line


def progress_line(elapsed: float, estimate: Estimate | None, *, count: int = 1) -> str:
    """One line: a bar against the provider's estimate, and the time so far (for a set of
    `count`, against its slowest image)."""
    if estimate is None:
        if count > 1:
            return _("⏳ Generating {count} images… {seconds:.1f}s", count=count, seconds=elapsed)
        return _("⏳ Generating… {seconds:.1f}s", seconds=elapsed)
    filled = min(BAR_CELLS, round(BAR_CELLS * elapsed / max(estimate.high, 0.1)))
    bar = "▰" * filled + "▱" * (BAR_CELLS - filled)
    if count > 1:
        return _(
            "🎨 Generating {count} images… `{bar}` {seconds:.1f}s (usually {estimate})",
            count=count,
            bar=bar,
            seconds=elapsed,
            estimate=estimate,
        )
    return _(
        "🎨 Generating… `{bar}` {seconds:.1f}s (usually {estimate})",
        bar=bar,
        seconds=elapsed,
        estimate=estimate,
    )


SPOILER_POLICIES = {
    None: N_("results shown"),
    "spoiler": N_("results behind a spoiler"),
    "refuse": N_("no images made"),
}
MAX_REPLY = 1900  # under Discord's 2,000 characters, whatever was echoed into it


def failure_line(message: str) -> str:
    return trimmed(f"❌ {message}", MAX_REPLY)


def refusal_text(refusal: Refused) -> str:
    """The core's sentence in the member's language, with what only Discord can show: reset
    times, channel links."""
    text = _(refusal.template, **refusal.params)
    if isinstance(refusal, LimitReached) and refusal.fits is not None:
        room, count = refusal.fits
        text += " " + _(WOULD_FIT, room=room, count=count)
    if isinstance(refusal, LimitReached) and refusal.resets_at is not None:
        when = discord.utils.format_dt(refusal.resets_at, "R")
        text += " " + _("It resets {when}.", when=when)
    if isinstance(refusal, ChannelNotAllowed):
        channels = " ".join(f"<#{channel_id}>" for channel_id in sorted(refusal.channel_ids))
        text += " " + _("Try {channels}.", channels=channels)
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
    embed.add_field(name=_("Size"), value=size_label(request.size))
    embed.add_field(name=_("Format"), value=result.image.output_format.upper())
    embed.add_field(name=_("Seed"), value=f"`{request.seed}`")
    add_style_field(embed, request)
    if reference_url is not None:
        embed.add_field(name=_("Strength"), value=f"{request.strength:.1f}")
        embed.add_field(name=_("Reference"), value=_("[image]({url})", url=reference_url))
    embed.add_field(name=_("Time"), value=f"{result.seconds:.1f}s")
    embed.add_field(name=_("Cost"), value=money(result.cost_cents))
    if filename is not None:
        embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=_("Job {id} · Z-Image Turbo", id=result.job_id))
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
    embed.add_field(name=_("Size"), value=size_label(request.size))
    embed.add_field(name=_("Format"), value=first.image.output_format.upper())
    add_style_field(embed, request)
    seeds = " · ".join(f"{number}: `{result.request.seed}`" for number, result in results)
    embed.add_field(name=_("Seeds"), value=seeds)
    if reference_url is not None:
        embed.add_field(name=_("Strength"), value=f"{request.strength:.1f}")
        embed.add_field(name=_("Reference"), value=_("[image]({url})", url=reference_url))
    embed.add_field(name=_("Time"), value=f"{max(result.seconds for _, result in results):.1f}s")
    costs = [result.cost_cents for _, result in results]
    total = None if None in costs else sum(cost or 0 for cost in costs)
    embed.add_field(name=_("Cost"), value=money(total))
    if failures:
        missing = "\n".join(
            f"{number}: {trimmed(_(text), 200)}" for number, text in failures.items()
        )
        embed.add_field(name=_("Not made"), value=missing, inline=False)
    ids = ", ".join(str(result.job_id) for _, result in results)
    embed.set_footer(text=_("Jobs {ids} · Z-Image Turbo", ids=ids))
    return embed


def add_style_field(embed: discord.Embed, request: GenerationRequest) -> None:
    """The server style a prompt was composed with; the prompt shown is the one sent."""
    if request.style_name:
        embed.add_field(name=_("Style"), value=discord.utils.escape_markdown(request.style_name))


def mod_log_embed(job: Job, result_url: str | None, failure: str | None) -> discord.Embed:
    """A moderation-log entry. Mentions inside an embed never ping."""
    embed = discord.Embed(
        title=_("Image failed") if failure else _("Image made"),
        description=trimmed(discord.utils.escape_markdown(job.request.prompt), PROMPT_IN_EMBED),
        colour=discord.Colour.red() if failure else EMBED_COLOUR,
        timestamp=discord.utils.utcnow(),
    )
    embed.add_field(name=_("Member"), value=f"<@{job.requester.user_id}>")
    embed.add_field(name=_("Channel"), value=f"<#{job.requester.channel_id}>")
    if result_url:
        embed.add_field(name=_("Result"), value=_("[Jump to it]({url})", url=result_url))
    if failure:
        embed.add_field(name=_("Why"), value=trimmed(_(failure), 1024), inline=False)
    embed.set_footer(text=_("Job {id}", id=job.id))
    return embed


def _limit(value: int | None, unit: str = "") -> str:
    return _("no limit") if value is None else f"{value}{unit}"


def _cents_limit(value: int | None) -> str:
    return _("no limit") if value is None else money(value)


def limits_embed(
    limits: Limits, settings: GuildSettings, defaults: tuple[str, str], note: str | None
) -> discord.Embed:
    """Every limit in force, for /limits."""
    zone_name = limits.timezone.key
    embed = discord.Embed(
        title=_("Limits in this server"),
        description=(note + "\n" if note else "")
        + _("Days and months reset at midnight **{zone}**.", zone=zone_name),
        colour=EMBED_COLOUR,
    )
    embed.add_field(name=_("Images per member per day"), value=_limit(limits.user_daily_images))
    embed.add_field(name=_("Cooldown per member"), value=_limit(limits.user_cooldown_seconds, " s"))
    embed.add_field(name=_("In progress per member"), value=_limit(limits.user_max_concurrent))
    embed.add_field(
        name=_("Server budget per day"), value=_cents_limit(limits.guild_daily_budget_cents)
    )
    embed.add_field(
        name=_("Server budget per month"), value=_cents_limit(limits.guild_monthly_budget_cents)
    )
    channels = " ".join(f"<#{c}>" for c in sorted(limits.channel_ids)) or _("all channels")
    embed.add_field(name=_("/imagine allowed in"), value=channels, inline=False)
    terms = ", ".join(f"“{discord.utils.escape_markdown(t)}”" for t in limits.blocked_terms)
    embed.add_field(name=_("Blocked words"), value=trimmed(terms or _("none"), 1024), inline=False)
    embed.add_field(
        name=_("Moderation log"),
        value=f"<#{settings.log_channel_id}>" if settings.log_channel_id else _("off"),
    )
    embed.add_field(
        name=_("Exempt role"),
        value=f"<@&{settings.exempt_role_id}>" if settings.exempt_role_id else _("none"),
    )
    embed.add_field(
        name=_("Outside age-restricted channels"),
        value=_(SPOILER_POLICIES.get(settings.spoiler_policy, SPOILER_POLICIES[None])),
    )
    embed.add_field(
        name=_("Images per request"),
        value=str(settings.max_images_per_request or MAX_IMAGES_PER_REQUEST),
    )
    embed.add_field(
        name=_("Confirm the cost above"),
        value=money(settings.confirm_above_cents) if settings.confirm_above_cents else _("never"),
    )
    embed.add_field(
        name=_("Personal suffixes"),
        value=_("ignored") if settings.personal_suffixes is False else _("added to prompts"),
    )
    size, output_format = defaults
    embed.add_field(
        name=_("Default image"), value=f"{size_label(size)}, {output_format.upper()}", inline=False
    )
    return embed


def _tally(tally: Tally) -> str:
    return _("{images} images · {cost}", images=tally.images, cost=money(tally.cents))


def _allowance(allowance: Allowance) -> str:
    show = money if allowance.in_cents else str
    text = _("{left} left of {cap}", left=show(allowance.left), cap=show(allowance.cap))
    if allowance.resets_at is not None:
        when = discord.utils.format_dt(allowance.resets_at, "R")
        text += " · " + _("resets {when}", when=when)
    return text


def _add_totals(embed: discord.Embed, report: MemberReport | ServerReport) -> None:
    embed.add_field(name=_("Today"), value=_tally(report.today))
    embed.add_field(name=_("This month"), value=_tally(report.month))
    embed.add_field(name=_("All time"), value=_tally(report.all_time))
    for allowance in report.allowances:
        embed.add_field(name=_(allowance.name), value=_allowance(allowance))


def member_usage_embed(report: MemberReport, member: discord.abc.User) -> discord.Embed:
    title = _("Usage of {member}", member=member.display_name)
    embed = discord.Embed(title=title, colour=EMBED_COLOUR)
    _add_totals(embed, report)
    if report.ready_at is not None:
        embed.add_field(
            name=_("Cooldown"),
            value=_("ready {when}", when=discord.utils.format_dt(report.ready_at, "R")),
        )
    if report.exempt:
        embed.set_footer(text=_("Exempt from the per-member limits by role."))
    return embed


def chart_words() -> ChartWords:
    """The usage chart's words in the member's language, month names from Babel's data."""
    months = get_month_names("abbreviated", context="stand-alone", locale=current_language())
    return ChartWords(
        title=_(ENGLISH_WORDS.title),
        images=_(ENGLISH_WORDS.images),
        cost=_(ENGLISH_WORDS.cost),
        total=_(ENGLISH_WORDS.total),
        today=_(ENGLISH_WORDS.today),
        months=tuple(months[month] for month in range(1, 13)),
    )


def server_usage_embed(report: ServerReport, *, chart: str) -> discord.Embed:
    embed = discord.Embed(title=_("Usage of this server"), colour=EMBED_COLOUR)
    _add_totals(embed, report)
    leaders = "\n".join(
        f"{rank}. <@{entry.user_id}>: {_tally(entry.tally)}"
        for rank, entry in enumerate(report.top_members, start=1)
    )
    embed.add_field(
        name=_("Top members this month"), value=leaders or _("nobody yet"), inline=False
    )
    embed.set_image(url=f"attachment://{chart}")
    return embed


STATE_NAMES = {
    JobState.RESERVED: N_("reserved"),
    JobState.SUBMITTING: N_("submitting"),
    JobState.SUBMITTED: N_("submitted"),
    JobState.COMPLETED: N_("completed"),
    JobState.FAILED: N_("failed"),
    JobState.RELEASED: N_("released"),
}


def job_details_embed(job: Job) -> discord.Embed:
    """Everything about a job, for the Details button: enough to make the image again."""
    request = job.request
    prompt = trimmed(discord.utils.escape_markdown(request.prompt), 4000)
    embed = discord.Embed(title=_("Job {id}", id=job.id), description=prompt, colour=EMBED_COLOUR)
    embed.add_field(name=_("Size"), value=size_label(request.size))
    embed.add_field(name=_("Format"), value=request.output_format.upper())
    embed.add_field(name=_("Seed"), value=f"`{request.seed}`")
    add_style_field(embed, request)
    if request.image:
        embed.add_field(name=_("Strength"), value=f"{request.strength:.1f}")
        embed.add_field(name=_("Reference"), value=_("[image]({url})", url=request.image))
    embed.add_field(name=_("Cost"), value=money(job.cost_cents))
    if job.submitted_at and job.finished_at:
        embed.add_field(name=_("Time"), value=f"{job.finished_at - job.submitted_at:.1f}s")
    embed.add_field(name=_("Requested by"), value=f"<@{job.requester.user_id}>")
    embed.add_field(name=_("State"), value=_(STATE_NAMES[job.state]))
    return embed

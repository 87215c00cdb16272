"""The usage chart moderators see under `/usage`: images and cost per day as a PNG.

Pure Pillow and no Discord, so it renders in a worker thread and in tests alike. The colours
follow Discord's dark theme, where the picture is shown.
"""

from __future__ import annotations

import datetime
import functools
import io
import math
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from bot.core.texts import N_

WIDTH, HEIGHT = 1000, 560
BACKGROUND = "#2b2d31"
IMAGES_BAR_COLOR = (88, 101, 242)  # Discord blurple
COST_BAR_COLOR = (87, 242, 135)  # Discord green
TODAY_BAND_COLOR = "#41445e"
GRID_COLOR = "#3f4147"
AXIS_COLOR = "#6d6f78"
TEXT_COLOR = "#f2f3f5"
MUTED_TEXT_COLOR = "#b5bac1"

_PAD = 24
_PANEL_HEADER_GAP = 26  # from a panel's header line to the top of its plot
_IMAGES_PLOT = (88, 268)  # top and bottom of each plot, in pixels
_COST_PLOT = (322, 502)
_DAY_LABEL_Y = 510
_MONTH_LABEL_Y = 530
_BAR_FILL = 0.7  # share of a column a bar covers, so neighbouring bars stay apart
_MAX_BAR_WIDTH = 40  # a window of a few days would otherwise draw slabs
_MIN_LABEL_SPACING = 44  # pixels between day-of-month labels, so they never touch


@dataclass(frozen=True)
class DayUsage:
    day: datetime.date
    images: int
    cost_cents: int


# Fixed English names: strftime("%b") would follow the host's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class ChartWords:
    """Every word on the chart, English unless the caller passes them translated. `title` is
    a template for whoever picks the window (see bot.core.usage)."""

    title: str = N_("Images and cost, last {days} days")
    images: str = N_("Images per day")
    cost: str = N_("Cost per day")
    total: str = N_("{days}-day total: {amount}")
    today: str = N_("today")
    months: tuple[str, ...] = _MONTHS  # abbreviated, January first


ENGLISH_WORDS = ChartWords()


def render_usage_chart(
    days: Sequence[DayUsage],
    *,
    title: str,
    currency: str = "$",
    words: ChartWords = ENGLISH_WORDS,
) -> bytes:
    """A PNG: two aligned panels of bars, images per day above cost per day, one column per day
    in the order given (the caller passes every day of the window, zeros included).

    Raises ValueError for no days or negative counts. The last day is highlighted as today:
    the caller's window always ends today, and taking it from the data rather than the clock
    keeps the picture a pure function of its input.
    """
    if not days:
        raise ValueError("a usage chart needs at least one day")
    if any(d.images < 0 or d.cost_cents < 0 for d in days):
        raise ValueError("usage counts cannot be negative")

    title, currency = _drawable(title), _drawable(currency)

    def money(cents: int) -> str:
        return f"{currency}{cents // 100:,}.{cents % 100:02d}"

    def count(images: int) -> str:
        return f"{images:,}"

    images = [d.images for d in days]
    costs = [d.cost_cents for d in days]
    image_ticks = _nice_ticks(max(images))
    cost_ticks = _nice_ticks(max(costs))

    canvas = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    label_font, header_font = _font(13), _font(15)

    # Both panels share one left edge, wide enough for the longer set of tick labels,
    # so a day's image bar sits exactly above its cost bar.
    tick_labels = [count(t) for t in image_ticks] + [money(t) for t in cost_ticks]
    left = _PAD + math.ceil(max(draw.textlength(s, font=label_font) for s in tick_labels)) + 10
    right = WIDTH - _PAD
    column = (right - left) / len(days)

    title_font = _font(22)
    draw.text((_PAD, 18), _fit(draw, title, title_font, WIDTH - 2 * _PAD), TEXT_COLOR, title_font)

    # Today's column is tinted in both plots and down behind its day label.
    today_left = round(left + (len(days) - 1) * column)
    for top, bottom in (_IMAGES_PLOT, (_COST_PLOT[0], _DAY_LABEL_Y + 18)):
        draw.rectangle((today_left, top, right - 1, bottom), TODAY_BAND_COLOR)

    panels = (
        (_IMAGES_PLOT, images, image_ticks, count, IMAGES_BAR_COLOR, words.images),
        (_COST_PLOT, costs, cost_ticks, money, COST_BAR_COLOR, words.cost),
    )
    for (top, bottom), values, ticks, fmt, color, name in panels:
        header_y = top - _PANEL_HEADER_GAP
        draw.text((left, header_y), _drawable(name), TEXT_COLOR, header_font)
        total = _drawable(words.total.format(days=len(days), amount=fmt(sum(values))))
        draw.text((right, header_y), total, MUTED_TEXT_COLOR, label_font, anchor="ra")

        scale = (bottom - top) / ticks[-1]
        for tick in ticks:
            y = round(bottom - tick * scale)
            draw.line((left, y, right, y), AXIS_COLOR if tick == 0 else GRID_COLOR)
            draw.text((left - 10, y), fmt(tick), MUTED_TEXT_COLOR, label_font, anchor="rm")

        bar_width = min(_MAX_BAR_WIDTH, max(1.0, column * _BAR_FILL))
        for index, value in enumerate(values):
            if value == 0:
                continue
            # At least one pixel tall, so a quiet day next to a spike still shows it had usage.
            height = max(1, round(value * scale))
            x0 = round(left + index * column + (column - bar_width) / 2)
            x1 = max(x0, round(x0 + bar_width) - 1)
            draw.rectangle((x0, bottom - height, x1, bottom - 1), color)

    _draw_day_labels(draw, days, left, column, label_font, words)
    return _png(canvas)


def _draw_day_labels(
    draw: ImageDraw.ImageDraw,
    days: Sequence[DayUsage],
    left: int,
    column: float,
    font: ImageFont.FreeTypeFont,
    words: ChartWords,
) -> None:
    """Day of month every few columns, counted back from today so today is always labelled,
    the month's name wherever it changes, and "today" under the last column."""
    every = max(1, math.ceil(_MIN_LABEL_SPACING / column))
    last = len(days) - 1
    right = left + len(days) * column
    names_end = -math.inf  # where the last drawn name ends, so names never overlap

    def name_at(x: float, text: str, color: str) -> None:
        nonlocal names_end
        x = min(x, right - draw.textlength(text, font=font))
        if x >= names_end:
            draw.text((x, _MONTH_LABEL_Y), text, color, font)
            names_end = x + draw.textlength(text, font=font) + 8

    for index, usage in enumerate(days):
        if (last - index) % every == 0:
            color = TEXT_COLOR if index == last else MUTED_TEXT_COLOR
            center = left + (index + 0.5) * column
            draw.text((center, _DAY_LABEL_Y), str(usage.day.day), color, font, anchor="ma")
        if index == 0 or usage.day.month != days[index - 1].day.month:
            name = _drawable(words.months[usage.day.month - 1])
            if index == 0 or usage.day.month == 1:
                name += f" {usage.day.year}"
            name_at(left + index * column, name, MUTED_TEXT_COLOR)
    today = _drawable(words.today)
    today_width = draw.textlength(today, font=font)
    name_at(left + (last + 0.5) * column - today_width / 2, today, TEXT_COLOR)


def _nice_ticks(peak: int) -> list[int]:
    """0 up to at least `peak` in at most four round steps (1, 2, 2.5, 5 times a power of ten).

    A floor of 4 keeps empty or tiny data on a readable 0-4 axis instead of dividing by zero.
    """
    peak = max(peak, 4)
    step = next(s for s in _round_steps() if math.ceil(peak / s) <= 4)
    return [step * i for i in range(math.ceil(peak / step) + 1)]


def _round_steps() -> Iterator[int]:
    magnitude = 1
    while True:
        yield magnitude
        yield 2 * magnitude
        if magnitude >= 10:  # 2.5 times a power of ten is only whole from 25 up
            yield magnitude * 5 // 2
        yield 5 * magnitude
        magnitude *= 10


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """Shorten `text` with an ellipsis until it fits: server names can be long."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _drawable(text: str) -> str:
    """`text` in characters the bundled font has: it covers little beyond ASCII, and a server
    name like "Café — Art" would otherwise show boxes. Accents are dropped, dashes become
    hyphens and anything else missing becomes "?"."""
    folded = unicodedata.normalize("NFKD", text).translate(_DASHES)
    return "".join(c if _has_glyph(c) else "?" for c in folded if not unicodedata.combining(c))


_DASHES = str.maketrans("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-------")


def _has_glyph(char: str) -> bool:
    # Missing characters all render as the font's one "no glyph" box.
    return char.isspace() or _glyph(char) != _glyph("\U0010ffff")


@functools.cache
def _glyph(char: str) -> tuple[tuple[int, int], bytes]:
    mask = _font(22).getmask(char)
    return mask.size, bytes(mask)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow's bundled scalable font: no font files to ship or download.
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # the fixed-size fallback ignores `size`
        raise RuntimeError("the usage chart needs Pillow built with FreeType")
    return font


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # optimize=True would double the render time to save about 5% of ~20 kB.
    image.save(buffer, format="PNG")
    return buffer.getvalue()

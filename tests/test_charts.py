"""The `/usage` chart: a readable PNG whose bars follow the data."""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence

import pytest
from PIL import Image, ImageChops

from bot.core.charts import COST_BAR_COLOR, IMAGES_BAR_COLOR, DayUsage, render_usage_chart

TODAY = datetime.date(2025, 3, 12)


def window(images: Sequence[int], cents_per_image: int = 10) -> list[DayUsage]:
    """Consecutive days ending today, one per count."""
    start = TODAY - datetime.timedelta(days=len(images) - 1)
    return [
        DayUsage(start + datetime.timedelta(days=i), count, count * cents_per_image)
        for i, count in enumerate(images)
    ]


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def bars(image: Image.Image, color: tuple[int, int, int]) -> list[tuple[int, int]]:
    """(first x, height in pixels) of each run of columns holding `color`, left to right."""
    # 255 where a band matches, then the darkest band: 255 only where all three match.
    bands = image.point([255 if v == c else 0 for c in color for v in range(256)]).split()
    mask = ImageChops.darker(ImageChops.darker(bands[0], bands[1]), bands[2])
    width, height = image.size
    # Transposed, each original column is one row of bytes.
    columns = mask.transpose(Image.Transpose.TRANSPOSE).tobytes()
    heights = [columns[x * height : (x + 1) * height].count(255) for x in range(width)]
    runs: list[tuple[int, int]] = []
    for x, tall in enumerate(heights):
        if tall and (x == 0 or not heights[x - 1]):
            runs.append((x, tall))
        elif tall:
            runs[-1] = (runs[-1][0], max(runs[-1][1], tall))
    return runs


def test_output_is_a_png_of_the_expected_size() -> None:
    """Pillow opens the bytes as a 1000×560 PNG."""
    image = open_png(render_usage_chart(window([3] * 30), title="Usage"))
    assert image.size == (1000, 560)


def test_bigger_values_draw_taller_bars() -> None:
    """A day with 10 images has a bar five times as tall as a day with 2, in both panels."""
    counts = [0] * 30
    counts[5], counts[20] = 10, 2
    image = open_png(render_usage_chart(window(counts), title="Usage"))
    for color in (IMAGES_BAR_COLOR, COST_BAR_COLOR):
        (_, tall), (_, short) = bars(image, color)
        assert short > 0
        assert abs(tall - 5 * short) <= 2


def test_image_and_cost_bars_share_columns() -> None:
    """Each day's cost bar sits exactly below its image bar."""
    image = open_png(render_usage_chart(window([1, 0, 4, 2, 0, 7, 3]), title="Usage"))
    image_columns = [x for x, _ in bars(image, IMAGES_BAR_COLOR)]
    assert len(image_columns) == 5
    assert image_columns == [x for x, _ in bars(image, COST_BAR_COLOR)]


def test_all_zero_data_renders_without_bars() -> None:
    """A month without usage still renders, with no bar anywhere."""
    image = open_png(render_usage_chart(window([0] * 30), title="Usage"))
    assert bars(image, IMAGES_BAR_COLOR) == []
    assert bars(image, COST_BAR_COLOR) == []


def test_a_spike_leaves_quiet_days_visible() -> None:
    """Next to a 5,000-image day, a day with one image still gets a visible bar."""
    counts = [0] * 30
    counts[3], counts[15] = 1, 5000
    image = open_png(render_usage_chart(window(counts), title="Usage"))
    heights = [height for _, height in bars(image, IMAGES_BAR_COLOR)]
    assert len(heights) == 2
    assert 0 < heights[0] < heights[1]


@pytest.mark.parametrize("length", [1, 30, 90])
def test_every_day_gets_its_own_column(length: int) -> None:
    """Windows of 1 to 90 days draw one separate bar per day with usage."""
    image = open_png(render_usage_chart(window([1 + i % 5 for i in range(length)]), title="Usage"))
    assert image.size == (1000, 560)
    assert len(bars(image, IMAGES_BAR_COLOR)) == length


def test_same_data_same_bytes_and_different_data_different_bytes() -> None:
    """Rendering is deterministic, and a changed day changes the picture."""
    first = render_usage_chart(window([2] * 30), title="Usage")
    assert render_usage_chart(window([2] * 30), title="Usage") == first
    assert render_usage_chart(window([2] * 29 + [3]), title="Usage") != first


def test_no_days_is_an_error() -> None:
    """An empty window is a caller bug, not an empty picture."""
    with pytest.raises(ValueError, match="at least one day"):
        render_usage_chart([], title="Usage")

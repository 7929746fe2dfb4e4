"""The shared plots draw what they are given, all of it inside their axes, labels clear of lines.

nbval compares no pictures, so these tests look at what each helper drew: every line point,
marker, text, bar and band must lie inside its axes' limits (a picture that hides its own
data is wrong however its cell's text reads), and no text may sit on a drawn line.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.transforms import Bbox

from sse_lab.clients import Attempt
from sse_lab.lab import plots
from sse_lab.lab.plots import (
    GAP_FLOOR_MS,
    plot_arrivals,
    plot_gaps,
    plot_reconnections,
    plot_served_by,
    plot_url_limit,
)

PIXEL = 1.0  # how far outside its axes an element may reach: a rounding error, no more


def reconnecting(retry: float, t0: float = 1000.0) -> tuple[list[Attempt], list[float]]:
    """Attempts and arrival times as 02's flaky stream gives them: three events per
    connection, a wait of `retry` seconds after each, and a 204 at the end."""
    attempts, arrivals, now = [], [], t0
    for last_event_id, status in [("", 200), ("3", 200), ("6", 200), ("9", 204)]:
        started = now
        if status == 200:
            arrivals += [started + 0.05 * n for n in (1, 2, 3)]
            now += 0.16
        attempts.append(Attempt(started, last_event_id, status, ended=now))
        now += retry
    return attempts, arrivals


URL_SIZES = [(12 + 2**k, 200 if 12 + 2**k <= 8190 else 414) for k in range(3, 15)]

# Every helper of sse_lab.lab.plots, drawing what its notebook gives it.
HELPERS: dict[str, Callable[[], Figure]] = {
    "plot_arrivals": lambda: plot_arrivals(
        {"streamed": [0.1, 0.2, 0.3], "all at once": [0.3, 0.3, 0.3]}
    ),
    "plot_gaps": lambda: plot_gaps(
        {
            "straight": [0.06 + 0.05 * n for n in range(40)],
            "through a buffering proxy": [2.1] * 40,
        }
    ),
    "plot_reconnections": lambda: plot_reconnections(
        {"retry: 300": reconnecting(0.3), "retry: 1000": reconnecting(1.0, t0=50.0)}
    ),
    "plot_served_by": lambda: plot_served_by(
        [("worker 1", 0.1 * n) for n in range(1, 21)]
        + [("worker 2", 2.5 + 0.1 * n) for n in range(1, 31)]
    ),
    "plot_url_limit": lambda: plot_url_limit([*URL_SIZES, (8190, 200), (8191, 414)], limit=8190),
}


def drawn(figure: Figure) -> dict[str, tuple[Axes, list[tuple[str, Bbox]]]]:
    """Each axes' title with its drawn elements, each as (what, its extent on screen)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    found = {}
    for ax in figure.axes:
        elements = []
        for line in ax.get_lines():
            points = line.get_transform().transform(line.get_xydata())
            elements += [(f"line {line.get_label()!r} point", Bbox([p, p])) for p in points]
        for collection in ax.collections:
            offsets = collection.get_offset_transform().transform(collection.get_offsets())
            elements += [(f"marker {collection.get_label()!r}", Bbox([p, p])) for p in offsets]
        elements += [("patch", patch.get_window_extent(renderer)) for patch in ax.patches]
        elements += [
            (f"text {text.get_text()!r}", text.get_window_extent(renderer)) for text in ax.texts
        ]
        found[ax.get_title()] = (ax, elements)
    return found


def outside_limits(figure: Figure) -> list[str]:
    """The drawn elements that reach outside their axes' limits."""
    return [
        f"{title}: {what} at {_corners(extent)}, outside the axes at {_corners(ax.bbox)}"
        for title, (ax, elements) in drawn(figure).items()
        for what, extent in elements
        if not ax.bbox.padded(PIXEL).contains(extent.x0, extent.y0)
        or not ax.bbox.padded(PIXEL).contains(extent.x1, extent.y1)
    ]


def _corners(box: Bbox) -> str:
    return f"({box.x0:.0f}, {box.y0:.0f})..({box.x1:.0f}, {box.y1:.0f})"


def texts_on_lines(figure: Figure) -> list[str]:
    """The texts of an axes that a line drawn on the same axes runs through."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    return [
        f"{text.get_text()!r} lies on the line {line.get_label()!r}"
        for ax in figure.axes
        for text in ax.texts
        for line in ax.get_lines()
        if line.get_linestyle() not in ("None", "")
        and line.get_transform()
        .transform_path(line.get_path())
        .intersects_bbox(text.get_window_extent(renderer), filled=False)
    ]


def pixels_of_each_series(figure: Figure, where: Bbox | None = None) -> dict[str, int]:
    """How many pixels of the saved picture show each line a legend names, in its own
    colour, inside its axes (or inside `where`, in pixels) and outside the legend box."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[::-1, :, :3].astype(int)  # row 0 at the bottom
    counts = {}
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = where or ax.get_window_extent()
        legend_box = legend.get_window_extent()
        rows, columns = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
        inside = (
            (columns >= box.x0) & (columns <= box.x1) & (rows >= box.y0) & (rows <= box.y1)
        ) & ~(
            (columns >= legend_box.x0)
            & (columns <= legend_box.x1)
            & (rows >= legend_box.y0)
            & (rows <= legend_box.y1)
        )
        for line in ax.get_lines():
            colour = np.array(to_rgb(line.get_color())) * 255
            close = (np.abs(image - colour).max(axis=2) <= 24) & inside
            counts[line.get_label()] = int(close.sum())
    return counts


def test_every_helper_of_the_module_is_checked_here() -> None:
    assert sorted(HELPERS) == sorted(name for name in plots.__all__ if name.startswith("plot_"))


@pytest.mark.parametrize("name", HELPERS)
def test_every_element_a_helper_draws_lies_inside_its_axes(name: str) -> None:
    figure = HELPERS[name]()
    assert all(elements for _, elements in drawn(figure).values())
    assert outside_limits(figure) == []


@pytest.mark.parametrize("name", HELPERS)
def test_no_text_a_helper_writes_lies_on_a_line(name: str) -> None:
    assert texts_on_lines(HELPERS[name]()) == []


def test_the_check_catches_a_shared_axis_frozen_by_its_first_panel() -> None:
    """02's old cell set the left x limit in its first panel, which freezes a shared x axis:
    the slower panel's last rows and its 204 fell off the right edge."""
    figure = Figure(figsize=(9, 5))
    top, bottom = figure.subplots(2, 1, sharex=True)
    for ax, retry in [(top, 0.3), (bottom, 1.0)]:
        attempts, arrivals = reconnecting(retry)
        t0 = attempts[0].started
        ax.plot([t - t0 for t in arrivals], [0] * len(arrivals), "k|")
        ax.plot(attempts[-1].started - t0, 0, "X")
        ax.set_xlim(left=-0.05)  # as the old cell did, panel by panel
        ax.set_title(f"retry {retry}")
    assert any(problem.startswith("retry 1.0: line") for problem in outside_limits(figure))
    assert not any(problem.startswith("retry 0.3") for problem in outside_limits(figure))


def test_the_check_catches_a_label_on_a_line() -> None:
    """04's old label: right-aligned at 98% of the width, it ran across the 8190 line."""
    figure = Figure(figsize=(7, 3.2))
    ax = figure.add_subplot()
    ax.set_xscale("log", base=2)
    ax.scatter([20, 8190, 16396], [200, 200, 414])
    ax.axvline(8190, linestyle="--", label="8190 bytes")
    ax.annotate("browsers: up to ~2 MB →", xy=(0.98, 0.5), xycoords="axes fraction", ha="right")
    assert texts_on_lines(figure) == ["'browsers: up to ~2 MB →' lies on the line '8190 bytes'"]


def test_plot_arrivals_draws_one_staircase_per_series() -> None:
    figure = plot_arrivals({"streamed": [0.1, 0.2, 0.3], "all at once": [0.3, 0.3, 0.3]})
    (ax,) = figure.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["streamed", "all at once"]
    assert list(lines[0].get_xdata()) == [0.0, 0.1, 0.2, 0.3]
    assert list(lines[0].get_ydata()) == [0, 1, 2, 3]
    assert ax.get_legend() is not None


def test_every_series_a_legend_names_shows_in_the_picture_even_where_they_coincide() -> None:
    # 07's proxies: three or four series of the same arrivals, one of them all at the end.
    same = [0.02 * n for n in range(1, 104)]
    figure = plot_arrivals(
        {"straight": same, "no header": [same[-1]] * 103, "X-Accel": same, "off": same}
    )
    assert all(count >= 30 for count in pixels_of_each_series(figure).values())


def test_the_pixel_check_catches_a_series_drawn_exactly_under_another() -> None:
    figure = Figure(figsize=(7, 3.2))
    ax = figure.add_subplot()
    for label in ("under", "on top"):
        ax.step([0, 1, 2], [0, 1, 2], label=label, linewidth=2)
    ax.legend()
    assert pixels_of_each_series(figure)["under"] == 0


def test_a_series_still_at_zero_shows_above_the_x_axis() -> None:
    # 06's `stream=False`: nothing until the whole answer arrives at 3 s.
    figure = plot_arrivals({"streamed": [0.1, 0.2, 2.9], "not streamed": [3.0] * 3})
    (ax,) = figure.axes
    x0, _ = ax.transData.transform((0.5, 0))  # the stretch from 0.5 s to 2.5 s, at zero
    x1, _ = ax.transData.transform((2.5, 0))
    area = ax.get_window_extent()
    stretch = Bbox([[x0, area.y0], [x1, area.y1]])
    assert pixels_of_each_series(figure, stretch)["not streamed"] >= 30


def test_plot_served_by_numbers_events_across_servers_without_restarting() -> None:
    served = [("a", 0.1), ("a", 0.2), ("b", 0.9), ("b", 1.0), ("b", 1.1)]
    (ax,) = plot_served_by(served).axes
    a, b = ax.get_lines()
    assert (a.get_label(), b.get_label()) == ("a", "b")
    assert list(a.get_ydata()) == [1, 2]
    assert list(b.get_xdata()) == [0.9, 1.0, 1.1]
    assert list(b.get_ydata()) == [3, 4, 5]  # the reader went on from event 3 on server b


def test_plot_reconnections_puts_each_event_on_the_row_of_its_connection() -> None:
    attempts, arrivals = reconnecting(1.0)
    figure = plot_reconnections({"retry: 1000": (attempts, arrivals)})
    (ax,) = figure.axes
    cross, ticks = ax.get_lines()  # the 204's cross is drawn first, the events' ticks last
    assert [label.get_text() for label in ax.get_yticklabels()] == [
        "sent Last-Event-ID: (none)",
        "sent Last-Event-ID: 3",
        "sent Last-Event-ID: 6",
        "sent Last-Event-ID: 9",
    ]
    assert list(ticks.get_ydata()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert list(cross.get_ydata()) == [3] and cross.get_xdata()[0] > 3  # the 204, after 3 s
    assert len(ax.patches) == 3 + 3  # three open streams, three waits


def cjk_font_or_skip() -> str:
    """The first CJK font this machine has; none: a loud skip, or a failure in CI."""
    found = plots.cjk_fonts()
    if not found:
        reason = f"no CJK font ({', '.join(plots.CJK_FONTS)}): apt-get install fonts-noto-cjk"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must draw Chinese", pytrace=False)
        pytest.skip(f"CHINESE PLOT TEST SKIPPED: {reason}")
    return found[0]


def test_a_chinese_title_and_legend_draw_every_glyph() -> None:
    font_name = cjk_font_or_skip()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = plot_arrivals(
            {"流式响应": [0.1, 0.2, 0.3], "一次性响应": [0.9]}, title="事件何时到达"
        )
        figure.suptitle("笔记本自己的标题")  # drawn as a notebook's own text is, not by a helper
        FigureCanvasAgg(figure).draw()
    assert [str(w.message) for w in caught if "missing from font" in str(w.message)] == []
    (ax,) = figure.axes
    assert font_name in ax.title.get_fontfamily()
    font = get_font(findfont(FontProperties(family=font_name), fallback_to_default=False))
    assert all(font.get_char_index(ord(character)) for character in ax.get_title())


def test_plot_gaps_shows_a_buffered_stream_as_one_long_wait_then_the_floor() -> None:
    straight = [0.06 + 0.05 * n for n in range(40)]
    figure = plot_gaps({"straight": straight, "buffered": [2.1] * 40})
    (ax,) = figure.axes
    paced, buffered = ax.get_lines()[:2]
    assert list(paced.get_xdata()) == list(range(1, 41))
    assert paced.get_ydata()[0] == pytest.approx(60)  # the time to the first delta, in ms
    assert list(paced.get_ydata()[1:]) == pytest.approx([50] * 39)
    assert buffered.get_ydata()[0] == pytest.approx(2100)
    assert set(buffered.get_ydata()[1:]) == {GAP_FLOOR_MS}  # gaps of 0, drawn on the floor
    assert ax.get_yscale() == "log"
    assert min(pixels_of_each_series(figure).values()) > 50

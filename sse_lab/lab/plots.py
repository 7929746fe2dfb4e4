"""The matplotlib pictures notebooks share: when events arrived, the gaps between them, how a
client reconnected, and where a URL grows too long.

Each helper draws on a Figure (or Axes) it is given or makes one, and sets its axes' limits
from everything it draws, so that no part of the data falls outside the picture.

Importing this module also lets every plot of the process draw Chinese, a notebook's own
`plt.title("中文")` included (`sse_lab.cjk_fonts.use_cjk_fonts`). A cell that resets
matplotlib's settings (`plt.rcdefaults()`, a style) calls `use_cjk_fonts()` again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from sse_lab.cjk_fonts import CJK_FONTS, cjk_fonts, use_cjk_fonts

if TYPE_CHECKING:
    from sse_lab.clients import Attempt

__all__ = [
    "CJK_FONTS",
    "cjk_fonts",
    "plot_arrivals",
    "plot_gaps",
    "plot_reconnections",
    "plot_served_by",
    "plot_url_limit",
    "use_cjk_fonts",
]

DASH = 4.0  # points: the later series are dashed, each in its own third of a 12-point cycle


def _series_style(n: int) -> tuple[str | tuple[float, tuple[float, float]], float]:
    """The n-th series' line style and width: the first solid and wide, each later one
    dashed, its dashes where the other dashed series have gaps, so series that coincide
    all show."""
    if n == 0:
        return "-", 3.0
    return (DASH * ((n - 1) % 3), (DASH, 2 * DASH)), 1.5


def plot_arrivals(
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "When the events arrived",
    unit: str = "events",
    ax: Axes | None = None,
) -> Figure:
    """One step line per series: how many events had arrived by each moment (seconds).

    A stream that trickles climbs steadily; a response that arrives all at once is a
    single cliff at the end: the picture of why streaming feels faster. In a notebook,
    draw on `plt.subplots()`'s axes (`ax=`) and end the cell with `plt.show()`.
    """
    figure, ax = _figure_and_axes(ax, figsize=(7, 3.2))
    for n, (label, times) in enumerate(series.items()):
        ordered = sorted(times)
        style, width = _series_style(n)
        ax.step(
            [0.0, *ordered],
            range(len(ordered) + 1),
            where="post",
            label=label,
            linestyle=style,
            linewidth=width,
        )
    ax.set_xlabel("seconds since the request")
    ax.set_ylabel(f"{unit} received")
    ax.set_title(title)
    ax.set_xlim(left=0)
    # A little room under 0: a series still at 0 (nothing arrived yet) shows above the axis.
    ax.set_ylim(bottom=-0.03 * max(ax.get_ylim()[1], 1))
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    return figure


GAP_FLOOR_MS = 0.1  # gaps shorter than this are drawn on it: "arrived together"


def plot_gaps(
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "The wait before each delta",
    ax: Axes | None = None,
) -> Figure:
    """For each series of arrival times (seconds since the request), the wait before each
    event in milliseconds, on a log scale: the first is the time to the first event, the
    rest the gaps between events. A stream keeps an even pace; a buffering proxy shows one
    long first wait, then gaps of nothing, drawn on a floor line (`GAP_FLOOR_MS`)."""
    figure, ax = _figure_and_axes(ax, figsize=(7, 3.4))
    longest = GAP_FLOOR_MS
    for n, (label, times) in enumerate(series.items()):
        ordered = sorted(times)
        gaps = [1000 * (later - earlier) for earlier, later in pairwise([0.0, *ordered])]
        shown = [max(gap, GAP_FLOOR_MS) for gap in gaps]
        longest = max(longest, *shown) if shown else longest
        style, width = _series_style(n)
        ax.plot(
            range(1, len(shown) + 1),
            shown,
            marker="o",
            markersize=3,
            label=label,
            linestyle=style,
            linewidth=width,
        )
    ax.axhline(GAP_FLOOR_MS, color="gray", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_ylim(GAP_FLOOR_MS / 10, longest * 4)  # room under the floor for its label
    ax.set_xlim(left=0)
    ax.annotate(
        f"≤ {GAP_FLOOR_MS} ms: arrived together",
        (1, GAP_FLOOR_MS),
        xycoords=("axes fraction", "data"),
        xytext=(-4, -3),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize="small",
        color="gray",
    )
    ax.set_xlabel("delta number (1: the time to the first delta)")
    ax.set_ylabel("ms waited before it")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(loc="upper right")
    return figure


def plot_served_by(
    served: Sequence[tuple[str, float]],
    *,
    title: str = "Which server sent each event",
    ax: Axes | None = None,
) -> Figure:
    """Each event of one stream, in order, at the moment it arrived (seconds), in the colour
    of the server that sent it: `served` holds one (server name, seconds) per event. A reader
    that resumes on another server shows as one line of events that changes colour and goes
    on from the next number, with no gap and no step back.
    """
    figure, ax = _figure_and_axes(ax, figsize=(7, 3.2))
    for name in dict.fromkeys(who for who, _ in served):  # in the order they first served
        mine = [(n, seconds) for n, (who, seconds) in enumerate(served, 1) if who == name]
        ax.plot([t for _, t in mine], [n for n, _ in mine], ".", markersize=4, label=name)
    ax.set_xlabel("seconds since the request")
    ax.set_ylabel("event number in the stream")
    ax.set_title(title)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def _timeline_key(figure: Figure) -> None:
    """The legend of a reconnection timeline: what each mark means."""
    key = {
        "connection (200, streaming)": Rectangle((0, 0), 1, 1, color="tab:blue", alpha=0.5),
        "event arrived": Line2D([], [], color="k", marker="|", linestyle="", markersize=10),
        "waiting retry ms": Rectangle((0, 0), 1, 1, color="tab:orange", alpha=0.25),
        "answered 204 (no stream)": Line2D([], [], color="tab:red", marker="X", linestyle=""),
    }
    figure.legend(list(key.values()), list(key), loc="outside lower center", ncols=len(key))


def plot_reconnections(
    timelines: Mapping[str, tuple[Sequence[Attempt], Sequence[float]]],
    *,
    figure: Figure | None = None,
) -> Figure:
    """One panel per timeline (title -> (`source.attempts`, arrival times from
    `time.monotonic()`)), one row per connection attempt, on one shared time axis.

    Blue bars are open streams, black ticks events on the row of the connection that
    brought them, orange bands the waits between attempts, a red cross an attempt
    answered without a stream (a 204, say). Time 0 is each timeline's first attempt.
    """
    if figure is None:
        figure = Figure(figsize=(9, 1.2 + 1.9 * len(timelines)), layout="constrained")
    axes = figure.subplots(len(timelines), 1, sharex=True, squeeze=False)[:, 0]
    latest = 0.0
    for ax, (title, (attempts, arrivals)) in zip(axes, timelines.items(), strict=True):
        latest = max(latest, _draw_timeline(ax, attempts, arrivals), 0.1)
        ax.set_title(title)
    # Limits once, after every panel is drawn: a shared axis takes the last limits set.
    axes[0].set_xlim(-0.03 * latest, 1.03 * latest)
    axes[-1].set_xlabel("seconds since the first attempt")
    _timeline_key(figure)
    return figure


def _draw_timeline(ax: Axes, attempts: Sequence[Attempt], arrivals: Sequence[float]) -> float:
    """Draw one timeline; the latest moment drawn, in seconds after the first attempt."""
    t0 = attempts[0].started
    ends = [attempt.ended if attempt.ended is not None else attempt.started for attempt in attempts]
    for row, (attempt, end) in enumerate(zip(attempts, ends, strict=True)):
        if attempt.status == 200:
            left, width = attempt.started - t0, end - attempt.started
            ax.barh(row, width, left=left, height=0.5, color="tab:blue", alpha=0.5)
        else:
            ax.plot(attempt.started - t0, row, "X", color="tab:red", markersize=9)
    rows = [max(n for n, a in enumerate(attempts) if a.started <= t) for t in arrivals]
    ax.plot([t - t0 for t in arrivals], rows, "k|", markersize=12)
    for end, later in zip(ends, attempts[1:], strict=False):
        ax.axvspan(end - t0, later.started - t0, color="tab:orange", alpha=0.25)
    labels = [f"sent Last-Event-ID: {a.last_event_id or '(none)'}" for a in attempts]
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # the first attempt on top
    return max([*ends, *arrivals]) - t0


BROWSER_URL_BYTES = 2 * 1024 * 1024  # Chrome's limit; other browsers allow as much or more


def plot_url_limit(
    measured: Sequence[tuple[int, int]], *, limit: int, ax: Axes | None = None
) -> Figure:
    """The status of each request by the bytes of its URL (a doubling scale), with the
    server's `limit` and the browsers' far larger one drawn in, each line named beside it."""
    figure, ax = _figure_and_axes(ax, figsize=(7, 3.4))
    for wanted, color, marker, label in [
        (200, "tab:green", "o", "200: the answer streams"),
        (414, "tab:red", "x", "414: URI Too Long"),
    ]:
        sizes = [url_bytes for url_bytes, status in measured if status == wanted]
        ax.scatter(sizes, [wanted] * len(sizes), color=color, marker=marker, label=label, zorder=3)
    ax.set_xscale("log", base=2)
    ax.set_xlim(8, BROWSER_URL_BYTES * 2)
    ax.set_ylim(100, 560)
    for x, text in [
        (limit, f"{limit} bytes:\nthis lab, Apache,\naiohttp"),
        (BROWSER_URL_BYTES, "browsers:\n~2 MB"),
    ]:
        ax.axvline(x, color="gray", linestyle="--")
        ax.annotate(
            text,
            (x, 540),
            xytext=(-4, 0),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize="small",
        )
    ticks = [16, 256, 4096, 65536, 1024 * 1024]
    ax.set_xticks(ticks, ["16", "256", "4 KiB", "64 KiB", "1 MiB"])
    ax.set_yticks([200, 414])
    ax.set_xlabel("bytes of /ask?prompt=... on the request line")
    ax.set_ylabel("HTTP status")
    ax.set_title(f"GET /ask: the prompt in the URL works until {limit} bytes")
    ax.legend(loc="center left", fontsize="small")
    return figure


def _figure_and_axes(ax: Axes | None, *, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The axes to draw on and their figure: `ax`'s own, or a new figure of `figsize`."""
    if ax is None:
        figure = Figure(figsize=figsize, layout="constrained")
        return figure, figure.add_subplot()
    return ax.get_figure(), ax  # type: ignore[return-value]


use_cjk_fonts()  # on import: see the module's docstring

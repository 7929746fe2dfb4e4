"""The matplotlib pictures notebooks share: when events arrived, as a climbing staircase."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure


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
    if ax is None:
        figure = Figure(figsize=(7, 3.2), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    for label, times in series.items():
        ordered = sorted(times)
        ax.step([0.0, *ordered], range(len(ordered) + 1), where="post", label=label)
    ax.set_xlabel("seconds since the request")
    ax.set_ylabel(f"{unit} received")
    ax.set_title(title)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    return figure

"""The shared plots draw what they are given."""

from __future__ import annotations

from sse_lab.plots import plot_arrivals


def test_plot_arrivals_draws_one_staircase_per_series() -> None:
    figure = plot_arrivals({"streamed": [0.1, 0.2, 0.3], "all at once": [0.3, 0.3, 0.3]})
    (ax,) = figure.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["streamed", "all at once"]
    assert list(lines[0].get_xdata()) == [0.0, 0.1, 0.2, 0.3]
    assert list(lines[0].get_ydata()) == [0, 1, 2, 3]
    assert ax.get_legend() is not None

"""Draw the figures `peers.py` saved (peers-results.json) as benchmarks/peers.png.

One panel per figure of the comparison; a bar per contestant: the median over rounds, its
line from the lowest round to the highest.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).parent
COLOURS = {"lab": "#1f77b4", "aiohttp-sse": "#ff7f0e", "sse-starlette": "#2ca02c"}
COLOURS["bare aiohttp"] = "#7f7f7f"

# (row in the results, figure, title, log scale)
PANELS = [
    ("row1", "paced_p99", "Row 1 (1 reader an answer): lateness p99, ms", True),
    ("row1", "us_per_delta", "Row 1: server CPU per delta, µs", False),
    ("row1", "kib_per_stream", "Row 1: server memory per stream, KiB", False),
    ("row2", "paced_p99", "Row 2 (lab: 10 readers an answer): p99, ms", True),
    ("row2", "us_per_delta", "Row 2: server CPU per delta, µs", False),
    ("row2", "kib_per_stream", "Row 2: server memory per stream, KiB", False),
    ("rows34", "first_delta_ms", "Row 3: POST /new → first delta, ms", False),
    ("rows34", "deltas_per_s", "Row 4: one stream, deltas per second", False),
]


def per_round(found: list[dict[str, Any]], figure: str) -> list[float]:
    """A contestant's figure in each round (for rows 3 and 4: the round's median)."""
    values = [r[figure] for r in found]
    values = [statistics.median(v) if isinstance(v, list) else v for v in values]
    return [v for v in values if v == v] or [0.0]  # NaN: a round where no delta arrived


def draw(results: dict[str, Any], path: Path) -> None:
    panels = [p for p in PANELS if p[0] in results]
    columns = 3
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(13, 3.6 * rows), squeeze=False)
    for ax, (row, figure, title, log) in zip(axes.flat, panels, strict=False):
        names = list(results[row])
        values = [per_round(results[row][name], figure) for name in names]
        middles = [statistics.median(v) for v in values]
        low = [m - min(v) for m, v in zip(middles, values, strict=True)]
        high = [max(v) - m for m, v in zip(middles, values, strict=True)]
        colours = [COLOURS.get(name, "#999999") for name in names]
        ax.bar(names, middles, color=colours, yerr=[low, high], capsize=4)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        top = max(max(v) for v in values)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(min(min(v) for v in values) / 2, top * 2)
        else:
            ax.set_ylim(0, top * 1.15)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    quick = " (--quick: 100 readers)" if results.get("quick") else ""
    load = f"load average {results['load_at_start']:.1f} at the start{quick}"
    fig.suptitle(f"The chat job, lab beside peers: median and range over rounds; {load}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--results", type=Path, default=HERE / "peers-results.json")
    cli.add_argument("--out", type=Path, default=HERE / "peers.png")
    args = cli.parse_args()
    draw(json.loads(args.results.read_text()), args.out)
    print(f"drew {args.out}")


if __name__ == "__main__":
    main()

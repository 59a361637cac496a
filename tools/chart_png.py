"""Render a line-chart figure (the plotly JSON the chart tool makes) to a PNG with matplotlib.

Plotly's own PNG export (kaleido) needs a browser; matplotlib draws offline and headless.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any


def write_png(figure: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # headless; no display needed
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(figsize=(9, 4.8), dpi=110)
    try:
        for trace in figure.get("data", []):
            x = [date.fromisoformat(value) for value in trace.get("x", [])]
            axes.plot(x, trace.get("y", []), label=trace.get("name"), linewidth=1.4)
        layout = figure.get("layout", {})
        axes.set_title(layout.get("title", {}).get("text", ""))
        axes.set_xlabel(layout.get("xaxis", {}).get("title", {}).get("text", ""))
        axes.set_ylabel(layout.get("yaxis", {}).get("title", {}).get("text", ""))
        axes.grid(alpha=0.3)
        if len(figure.get("data", [])) > 0:
            axes.legend()
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path

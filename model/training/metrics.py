"""The training log: one JSON line per optimizer step, and PNG curves drawn from it.

`metrics.jsonl` is append-only; on resume the lines after the checkpoint's step are dropped (they
were logged by steps the crash undid), so the log always matches the weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
PLOTS_DIR = "plots"
# (metric key, plot title) of the curves drawn, in panel order.
CURVES = (
    ("reward", "mean episode reward"),
    ("kl", "KL to reference (k3)"),
    ("loss", "loss"),
    ("clip_fraction", "clipped token share"),
    ("entropy", "token entropy (nats)"),
    ("grad_norm", "gradient norm"),
)


@dataclass
class StepMetrics:
    step: int
    epoch: int
    loss: float
    reward: float
    advantage: float
    kl: float | None
    clip_fraction: float | None
    ratio: float | None
    entropy: float
    grad_norm: float
    learning_rate: float
    num_sequences: int
    num_tokens: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class MetricsLog:
    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / METRICS_FILE

    def truncate_after(self, step: int) -> None:
        """Drop lines of steps after `step` (undone by a crash before their checkpoint)."""
        rows = [row for row in self.read() if row["step"] <= step]
        self.path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    def append(self, metrics: StepMetrics) -> None:
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(metrics.to_dict()) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def plot_curves(rows: list[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """A 2x3 grid of the CURVES against the optimizer step; None when there is nothing to draw."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in rows]
    figure, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for axis, (key, label) in zip(axes.flat, CURVES, strict=True):
        values = [float("nan") if row.get(key) is None else row[key] for row in rows]
        axis.plot(steps, values, marker=".", linewidth=1)
        axis.set_title(label, fontsize=10)
        axis.set_xlabel("optimizer step", fontsize=8)
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

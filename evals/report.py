"""Reports over one or more eval runs: accuracy with Wilson 95 % intervals, breakdowns (category,
answer type, agent steps, tool errors), runs side by side, a plot, and the worst failures with
their trajectories. Written as markdown and as a self-contained HTML page (plot embedded).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.db.eval_models import EvalResult
from evals.store import EvalStore, RunSummary

Z95 = 1.959963984540054
NUM_FAILURES = 10


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at small n and near 0 or 1)."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Cell:
    correct: int
    total: int
    mean_score: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def text(self) -> str:
        if not self.total:
            return "-"
        low, high = wilson_interval(self.correct, self.total)
        return f"{self.accuracy:.1%} [{low:.1%}, {high:.1%}] (n={self.total})"


def cell(results: list[EvalResult]) -> Cell:
    total = len(results)
    return Cell(
        sum(r.correct for r in results),
        total,
        sum(r.score for r in results) / total if total else 0.0,
    )


def _steps_bucket(r: EvalResult) -> str:
    return f"{r.num_steps} steps" if r.num_steps < 4 else "4+ steps"


BREAKDOWNS: dict[str, Callable[[EvalResult], str]] = {
    "category": lambda r: str(r.details.get("category", "")),
    "answer type": lambda r: r.answer_type,
    "agent steps": _steps_bucket,
    "tool errors": lambda r: "with tool errors" if r.num_tool_errors else "no tool errors",
    "scored by": lambda r: r.method,
}


@dataclass
class RunData:
    summary: RunSummary
    results: list[EvalResult]

    @property
    def label(self) -> str:
        c = self.summary.config
        how = c.get("method") or c.get("mode")  # a reasoning method says more than "reason"
        if c.get("prm"):
            how = f"{how} (PRM {c['prm']})"
        return f"{self.summary.id[:8]} {c.get('benchmark')}/{c.get('split')} {how}"


def load_runs(store: EvalStore, run_ids: list[str]) -> list[RunData]:
    runs = []
    for run_id in run_ids:
        summary = store.run(run_id)
        runs.append(RunData(summary, store.results(summary.id)))
    return runs


def comparison_rows(runs: list[RunData]) -> list[tuple[str, str, list[Cell]]]:
    """(breakdown, group, one cell per run) rows, the overall row first."""
    rows = [("overall", "all", [cell(run.results) for run in runs])]
    for name, key in BREAKDOWNS.items():
        groups = sorted({key(r) for run in runs for r in run.results})
        if len(groups) < 2:
            continue
        for group in groups:
            rows.append(
                (name, group, [cell([r for r in run.results if key(r) == group]) for run in runs])
            )
    return rows


def worst_failures(
    store: EvalStore, runs: list[RunData], count: int = NUM_FAILURES
) -> list[dict[str, Any]]:
    """Wrong answers, those that failed worst first: errors, then tool errors, then low scores."""
    failures = [(run, r) for run in runs for r in run.results if not r.correct]
    failures.sort(key=lambda pair: (not pair[1].error, -pair[1].num_tool_errors, pair[1].score))
    out = []
    for run, r in failures[:count]:
        trajectory = store.trajectory_summary(r.trajectory_id) if r.trajectory_id else {}
        out.append({"run": run.label, "result": r, "trajectory": trajectory})
    return out


def plot_png(runs: list[RunData], rows: list[tuple[str, str, list[Cell]]]) -> bytes:
    """Accuracy per category (or overall) per run, with Wilson intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [row for row in rows if row[0] in {"overall", "category"}][:16]
    figure, axis = plt.subplots(figsize=(max(6, 0.9 * len(shown) * len(runs) + 2), 4.2))
    width = 0.8 / len(runs)
    for k, run in enumerate(runs):
        xs, heights, errors = [], [], [[], []]
        for i, (_, _, cells) in enumerate(shown):
            c = cells[k]
            low, high = wilson_interval(c.correct, c.total)
            xs.append(i + (k - (len(runs) - 1) / 2) * width)
            heights.append(c.accuracy)
            errors[0].append(max(0.0, c.accuracy - low))  # rounding can cross the bar by 1e-17
            errors[1].append(max(0.0, high - c.accuracy))
        axis.bar(xs, heights, width, yerr=errors, capsize=3, label=run.label)
    axis.set_xticks(range(len(shown)))
    axis.set_xticklabels([group for _, group, _ in shown], rotation=30, ha="right", fontsize=8)
    axis.set_ylim(0, 1)
    axis.set_ylabel("accuracy (95% Wilson interval)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _run_lines(runs: list[RunData]) -> list[str]:
    lines = [
        "| run | benchmark | split | mode | model | done | accuracy [95% CI] | mean score |",
        "|---|---|---|---|---|---:|---|---:|",
    ]
    for run in runs:
        c, s = run.summary.config, cell(run.results)
        lines.append(
            f"| {run.summary.id[:12]} | {c.get('benchmark')} | {c.get('split')} | {c.get('mode')} "
            f"| {c.get('model') or '?'} | {len(run.results)}/{run.summary.num_examples} "
            f"| {s.text()} | {s.mean_score:.3f} |"
        )
    return lines


def markdown_report(store: EvalStore, runs: list[RunData], image_name: str | None) -> str:
    rows = comparison_rows(runs)
    lines = ["# Eval report", "", *_run_lines(runs), ""]
    if any(r.method.startswith("llm-judge") for run in runs for r in run.results):
        lines += ["Rows 'scored by llm-judge:...' are an LLM's opinion, not exact scoring.", ""]
    lines += ["## Side by side", ""]
    lines.append("| breakdown | group | " + " | ".join(run.label for run in runs) + " |")
    lines.append("|---|---|" + "---|" * len(runs))
    for name, group, cells in rows:
        lines.append(f"| {name} | {group} | " + " | ".join(c.text() for c in cells) + " |")
    if image_name:
        lines += ["", f"![accuracy by category]({image_name})"]
    lines += ["", "## Worst failures", ""]
    for item in worst_failures(store, runs):
        r = item["result"]
        lines += [
            f"### {r.example_id} ({item['run']})",
            "",
            f"- question: {r.question[:400]}",
            f"- gold: `{r.gold[:200]}`; read from the reply: `{r.extracted[:200]}`; "
            f"scored by {r.method}; stop: {r.stop_reason}"
            + (f"; error: {r.error}" if r.error else ""),
            f"- trajectory: `{r.trajectory_id or '-'}` (`huijin trajectories show {r.trajectory_id or ''}`)",
        ]
        for call in item["trajectory"].get("tool_calls", [])[:6]:
            flag = " (error)" if call["is_error"] else ""
            lines.append(
                f"- tool `{call['name']}`{flag}: `{str(call['arguments'])[:160]}` -> {call['result'][:200]!r}"
            )
        lines += ["", "```", r.reply[:1200], "```", ""]
    return "\n".join(lines) + "\n"


def html_report(markdown: str, png: bytes | None) -> str:
    """A self-contained page: the markdown's tables as HTML tables, the plot inlined."""
    body, in_table, in_code = [], False, False
    for line in markdown.splitlines():
        if line.startswith("```"):
            body.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            body.append(html.escape(line))
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-:"):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append(
                "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"
            )
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("!["):
            if png:
                data = base64.b64encode(png).decode()
                body.append(f'<img alt="accuracy by category" src="data:image/png;base64,{data}">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;font-size:12px}img{max-width:100%}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Eval report</title><style>{style}</style></head><body>{''.join(body)}</body></html>"


def write_report(store: EvalStore, run_ids: list[str], out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and accuracy.png into `out_dir`; returns their paths."""
    runs = load_runs(store, run_ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = comparison_rows(runs)
    png = plot_png(runs, rows) if any(run.results for run in runs) else None
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    if png:
        paths["plot"] = out_dir / "accuracy.png"
        paths["plot"].write_bytes(png)
    markdown = markdown_report(store, runs, "accuracy.png" if png else None)
    paths["markdown"].write_text(markdown, encoding="utf-8")
    paths["html"].write_text(html_report(markdown, png), encoding="utf-8")
    return paths

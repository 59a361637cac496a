"""The eval table's numbers and its markdown: one summary per (benchmark, split, mode) cell from the
runner's stored results, the throughput rows, and the published scores shown for context.

Pure functions over `EvalResult` rows and plain dicts, so the table can be rebuilt from the work
dir's database at any time (`eval_table.py --report-only`) and tested without a model.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from core.db.eval_models import EvalResult
from evals.report import wilson_interval

# FinanceBench's free-text answers get this method when no judge scores them: they are neither
# right nor wrong, so accuracy is over the scored examples and the table says how many were not.
UNSCORED = "unscored"


@dataclass(frozen=True)
class Published:
    """A score someone else published, shown beside ours for context only: other models, other
    prompts and shot counts, often other splits. Every entry names its source and the table it is
    in; a number that could not be checked there is left out (the table shows "-")."""

    benchmark: str
    model: str
    score_pct: float
    setting: str  # what was measured, as the source states it
    source: str
    table: str
    url: str

    def short(self) -> str:
        return f"{self.model}: {self.score_pct:g}% ({self.setting})"


PUBLISHED: tuple[Published, ...] = (
    Published(
        benchmark="gsm8k",
        model="SmolLM2-135M-Instruct",
        score_pct=1.4,
        setting="GSM8K 5-shot, lighteval",
        source="HuggingFaceTB/SmolLM2-135M-Instruct model card",
        table='"Evaluation" section, "Instruction model" table, row "GSM8K (5-shot)"',
        url="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    Published(
        benchmark="finqa",
        model="FinQANet (RoBERTa-large, fine-tuned retriever + program generator)",
        score_pct=61.24,
        setting="FinQA test, execution accuracy",
        source="Chen et al., FinQA, EMNLP 2021 (arXiv 2109.00122)",
        table="main results table, test set (program accuracy 58.86; human experts 91.16)",
        url="https://aclanthology.org/2021.emnlp-main.300/",
    ),
    Published(
        benchmark="convfinqa",
        model="FinQANet (RoBERTa-large, fine-tuned)",
        score_pct=68.90,
        setting="ConvFinQA test, execution accuracy",
        source="Chen et al., ConvFinQA, EMNLP 2022 (arXiv 2210.03849)",
        table="Table 5, test set (program accuracy 68.24; human experts 89.44)",
        url="https://arxiv.org/abs/2210.03849",
    ),
    Published(
        benchmark="tatqa",
        model="TAGOP (RoBERTa-large, fine-tuned)",
        score_pct=58.0,
        setting="TAT-QA test, numeracy-focused F1",
        source="Zhu et al., TAT-QA, ACL 2021 (arXiv 2105.07624)",
        table="abstract and main results table (EM 50.1; human experts 90.8 F1)",
        url="https://aclanthology.org/2021.acl-long.254/",
    ),
)


def published_for(benchmark: str) -> list[Published]:
    return [p for p in PUBLISHED if p.benchmark == benchmark]


def summarize(rows: Sequence[EvalResult]) -> dict[str, Any]:
    """Accuracy (Wilson 95% interval), latency, tool use and failures of one cell's results."""
    scored = [r for r in rows if not r.method.startswith(UNSCORED)]
    correct = sum(bool(r.correct) for r in scored)
    low, high = wilson_interval(correct, len(scored))
    solved = [r.duration_s for r in rows if not r.error]
    return {
        "n": len(rows),
        "n_scored": len(scored),
        "unscored": len(rows) - len(scored),
        "judged": sum(r.method.startswith("llm-judge") for r in rows),
        "correct": correct,
        "accuracy": correct / len(scored) if scored else None,
        "ci95": [low, high] if scored else None,
        "mean_score": statistics.fmean(r.score for r in scored) if scored else None,
        "mean_latency_s": statistics.fmean(solved) if solved else None,
        "median_latency_s": statistics.median(solved) if solved else None,
        "tool_calls": sum(r.num_tool_calls for r in rows),
        "tool_errors": sum(r.num_tool_errors for r in rows),
        "examples_with_tool_errors": sum(1 for r in rows if r.num_tool_errors),
        "errors": sum(1 for r in rows if r.error),
        "stop_reasons": dict(sorted(_count(r.stop_reason for r in rows).items())),
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def per_minute(examples: int, wall_s: float) -> float | None:
    return 60.0 * examples / wall_s if wall_s > 0 else None


def remaining_estimate(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How long the unfinished examples should take, at each cell's measured wall time per
    example (cells not timed yet borrow the mean of the timed cells in the same mode)."""
    by_mode: dict[str, list[float]] = {}
    for cell in cells:
        if cell.get("wall_s_per_example"):
            by_mode.setdefault(cell["mode"], []).append(cell["wall_s_per_example"])
    seconds, untimed = 0.0, 0
    for cell in cells:
        left = max(0, cell["n_planned"] - cell["n"])
        if not left:
            continue
        rate = cell.get("wall_s_per_example") or (
            statistics.fmean(by_mode[cell["mode"]]) if by_mode.get(cell["mode"]) else None
        )
        if rate is None:
            untimed += left
        else:
            seconds += left * rate
    remaining = sum(max(0, c["n_planned"] - c["n"]) for c in cells)
    return {"examples": remaining, "seconds": round(seconds), "examples_without_timing": untimed}


# -- markdown -------------------------------------------------------------------------------------


def accuracy_text(cell: dict[str, Any]) -> str:
    if cell.get("accuracy") is None:
        return "-"
    low, high = cell["ci95"]
    return f"{cell['accuracy']:.1%} [{low:.0%}, {high:.0%}]"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _n_text(cell: dict[str, Any]) -> str:
    text = f"{cell['n']}" if cell["n"] >= cell["n_planned"] else f"{cell['n']}/{cell['n_planned']}"
    if cell.get("unscored"):
        text += f" ({cell['unscored']} unscored)"
    return text


def _tools_text(cell: dict[str, Any]) -> str:
    if cell["mode"] != "agent":
        return ""
    return f"{cell['tool_calls']} / {cell['tool_errors']}"


def _published_cells(cells: Sequence[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """The table's context column (first row of each benchmark) and its numbered footnotes."""
    column: dict[str, str] = {}
    notes: list[str] = []
    for cell in cells:
        if cell["benchmark"] in column:
            continue
        texts = []
        for published in published_for(cell["benchmark"]):
            notes.append(
                f"[{len(notes) + 1}] {published.model}, {published.setting}: {published.source}, "
                f"{published.table}. <{published.url}>"
            )
            texts.append(f"{published.short()} [{len(notes)}]")
        column[cell["benchmark"]] = "; ".join(texts) or "-"
    return column, notes


def markdown(report: dict[str, Any]) -> str:
    cells, engine, settings = report["cells"], report.get("engine") or {}, report["settings"]
    lines = [
        f"# Eval table: `{engine.get('model_id', settings.get('model', '?'))}`",
        "",
        f"{report['date']}, {report['machine_summary']}. Engine: {_engine_text(engine)}. "
        f"Seed {settings['seed']}, concurrency {settings.get('concurrency', '?')}; up to "
        f"{report['limit']} examples a cell (a seeded sample of the split), the tool-use suite's "
        "whole test split. Accuracy: each benchmark's own scorer, Wilson 95% interval. Latency: "
        "one example as the runner timed it; s/example: wall clock over the cell at its "
        "concurrency (the time to plan a full run by).",
        "",
        "| benchmark | split | mode | n | accuracy [95% CI] | mean latency | s/example "
        "| tool calls / errors | published, for context |",
        "|---|---|---|---:|---|---:|---:|---:|---|",
    ]
    column, notes = _published_cells(cells)
    shown: set[str] = set()
    for cell in cells:
        context = column[cell["benchmark"]] if cell["benchmark"] not in shown else ""
        shown.add(cell["benchmark"])
        lines.append(
            f"| {cell['benchmark']} | {cell['split']} | {cell['mode']} | {_n_text(cell)} "
            f"| {accuracy_text(cell)} | {_seconds(cell.get('mean_latency_s'))} "
            f"| {_seconds(cell.get('wall_s_per_example'))} | {_tools_text(cell)} | {context} |"
        )
    split_notes = {(c["benchmark"], c["split"]): c["split_note"] for c in cells if c["split_note"]}
    if split_notes:
        lines += ["", "Splits:", ""]
        lines += [f"- {b} ({s}): {note}" for (b, s), note in split_notes.items()]
    if any(c.get("unscored") for c in cells):
        lines += [
            "",
            "Unscored: FinanceBench answers in free text need an LLM judge (--judge); without one "
            "they are left out of the accuracy, which is over the numeric answers only.",
        ]
    if notes:
        lines += [
            "",
            "Published scores are other setups (shots, prompts, splits), for scale only:",
            "",
        ]
        lines += [f"- {note}" for note in notes]
    if report.get("throughput"):
        lines += ["", *throughput_lines(report["throughput"])]
    estimate = report.get("remaining")
    if estimate and estimate["examples"]:
        lines += [
            "",
            f"Not finished: {estimate['examples']} examples, about "
            f"{estimate['seconds'] / 3600:.1f} h more at the measured rates"
            + (
                f" ({estimate['examples_without_timing']} in cells with no timing yet)"
                if estimate["examples_without_timing"]
                else ""
            )
            + ". Rerun the same command to resume.",
        ]
    lines += ["", f"Command: `{report['command']}`"]
    return "\n".join(lines) + "\n"


def _engine_text(engine: dict[str, Any]) -> str:
    if not engine:
        return "not loaded in this session (see each cell in the JSON)"
    extra = engine.get("extra", {})
    parts = [engine.get("backend", "?"), engine.get("device", ""), engine.get("dtype", "")]
    if extra.get("kv_cache"):
        parts.append(f"KV {extra['kv_cache']}")
    if extra.get("num_threads"):
        parts.append(f"{extra['num_threads']} threads")
    return ", ".join(p for p in parts if p)


def throughput_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Examples a minute per slice, one column per concurrency, and the speed-up over the first."""
    slices: dict[tuple[str, str, str, int], dict[int, dict[str, Any]]] = {}
    for row in rows:
        slices.setdefault((row["benchmark"], row["split"], row["mode"], row["n"]), {})[
            row["concurrency"]
        ] = row
    levels = sorted({row["concurrency"] for row in rows})
    lines = [
        "Throughput, examples a minute on the same slice (one uninterrupted run each):",
        "",
        "| slice | mode | n | " + " | ".join(f"concurrency {c}" for c in levels) + " | speed-up |",
        "|---|---|---:|" + "---:|" * (len(levels) + 1),
    ]
    for (benchmark, split, mode, n), by_level in slices.items():
        rates = [by_level.get(c, {}).get("examples_per_min") for c in levels]
        texts = ["-" if r is None else f"{r:.2f}" for r in rates]
        speedup = (
            f"{rates[-1] / rates[0]:.2f}x"
            if len(rates) > 1 and rates[0] and rates[-1] is not None
            else "-"
        )
        lines.append(
            f"| {benchmark}/{split} | {mode} | {n} | " + " | ".join(texts) + f" | {speedup} |"
        )
    return lines


def published_json() -> list[dict[str, Any]]:
    return [asdict(p) for p in PUBLISHED]

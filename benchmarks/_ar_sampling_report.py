"""benchmarks/ar_sampling.py's numbers: the method table, the issue's goals, the markdown, the plot.

Pure functions over the stored per-problem records, so the report can be rebuilt from the JSON and
tested without a model. A record is {"index", "id", "gold", "methods": {"<method>@<N>": {...}}}
with, per method, is_correct, generated_tokens, prompt_tokens, num_rethinks, num_rethinks_passed.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from evals.report import wilson_interval

# The table's method labels, in the order the plot draws them (ar-* are AR-Sampling's rules).
METHODS = ("greedy", "sc", "bon", "weighted", "ar-best", "ar-weighted", "ar-majority")
PASS, FAIL, NOT_MEASURED = "pass", "fail", "not measured"


def reported_ns(n_max: int) -> list[int]:
    """N = 1, 2, 4, 8 up to N_max, and N_max itself."""
    return sorted({1, 2, 4, 8, n_max} & set(range(1, n_max + 1)))


def table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method@N over every record: accuracy (Wilson 95 % interval), tokens, rethinks."""
    keys = list(records[0]["methods"]) if records else []
    rows = []
    for key in keys:
        entries = [r["methods"][key] for r in records]
        num = len(entries)
        num_correct = sum(bool(e["is_correct"]) for e in entries)
        rethinks = sum(e["num_rethinks"] for e in entries)
        low, high = wilson_interval(num_correct, num)
        method, _, n = key.rpartition("@")
        rows.append(
            {
                "method": key,
                "name": method,
                "n": int(n),
                "accuracy": num_correct / num,
                "ci_low": low,
                "ci_high": high,
                "num_correct": num_correct,
                "num_problems": num,
                "mean_generated_tokens": sum(e["generated_tokens"] for e in entries) / num,
                "mean_prompt_tokens": sum(e["prompt_tokens"] for e in entries) / num,
                "rethinks_per_problem": rethinks / num,
                # The proxy for "a rethink fixed a wrong step": the redone step scored >= p.
                "rethinks_passed": (
                    sum(e["num_rethinks_passed"] for e in entries) / rethinks if rethinks else None
                ),
            }
        )
    return rows


def goals(rows: list[dict[str, Any]], ns: list[int]) -> list[dict[str, Any]]:
    """The issue's three goals at every N, each pass / fail / not measured, with its numbers.

    Pass and fail compare point estimates; `ci_overlap` says when the two 95 % intervals overlap,
    i.e. when the difference is within what this many problems can tell apart.
    """
    by_key = {row["method"]: row for row in rows}
    out = []
    for n in ns:
        ar, bon = by_key.get(f"ar-best@{n}"), by_key.get(f"bon@{n}")
        greedy = by_key.get(f"greedy@{n}")
        if ar is None or bon is None or greedy is None:
            continue
        out.append(_accuracy_goal(n, "AR (best) > greedy", ar, greedy, strict=True))
        out.append(_accuracy_goal(n, "AR (best) >= BoN at the same N", ar, bon, strict=False))
        bon_2n = by_key.get(f"bon@{2 * n}")
        goal = "AR (best) tokens < BoN@2N tokens"
        if bon_2n is None:
            out.append(
                {
                    "n": n,
                    "goal": goal,
                    "status": NOT_MEASURED,
                    # Samples are independent, so BoN@2N would generate twice BoN@N's tokens
                    # on average: an estimate, said as such, never a pass.
                    "detail": f"BoN@{2 * n} not run (N_max < {2 * n}); twice BoN@{n}'s tokens "
                    f"would be {2 * bon['mean_generated_tokens']:.0f} vs AR's "
                    f"{ar['mean_generated_tokens']:.0f} (an estimate)",
                    "ci_overlap": None,
                }
            )
            continue
        ours, theirs = ar["mean_generated_tokens"], bon_2n["mean_generated_tokens"]
        out.append(
            {
                "n": n,
                "goal": goal,
                "status": PASS if ours < theirs else FAIL,
                "detail": f"{ours:.0f} vs {theirs:.0f} (BoN@{2 * n}) generated tokens / problem",
                "ci_overlap": None,
            }
        )
    return out


def _accuracy_goal(
    n: int, goal: str, ours: dict[str, Any], theirs: dict[str, Any], strict: bool
) -> dict[str, Any]:
    a, b = ours["accuracy"], theirs["accuracy"]
    holds = a > b if strict else a >= b
    overlap = ours["ci_low"] <= theirs["ci_high"] and theirs["ci_low"] <= ours["ci_high"]
    return {
        "n": n,
        "goal": goal,
        "status": PASS if holds else FAIL,
        "detail": f"{_acc(ours)} vs {_acc(theirs)} ({theirs['method']})",
        "ci_overlap": overlap,
    }


def _acc(row: dict[str, Any]) -> str:
    return f"{row['accuracy']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def _shared_note(shared: dict[str, int], num_done: int) -> str:
    """Which other PRM's file scores the same greedy and whole-solution samples, on how many
    problems (drawn once in one process; its time is counted in both files)."""
    return "".join(
        f" On {count} of the {num_done} problems, greedy and the whole solutions are the very "
        f"samples PRM {name} scored (drawn once, in one process; the time above covers both)."
        for name, count in sorted(shared.items())
    )


def markdown(
    rows: list[dict[str, Any]], goal_rows: list[dict[str, Any]], meta: dict[str, Any]
) -> str:
    s = meta["settings"]
    lines = [
        f"# AR-Sampling vs baselines on {meta['title']}",
        "",
        f"{meta['num_problems_done']} of {meta['num_problems_planned']} problems done (the "
        f"source has {meta['num_problems_available']}: {meta['source']}). Model {s['model']}, PRM {s['prm']}, p {s['p']}, m {s['m']}, "
        f"temperature {s['temperature']}, budget {s['max_tokens']} generated tokens per sample, "
        f"N_max {s['n_max']}, seed {s['seed']} (problem i samples with seed + 1000 i; every "
        f"problem and seed run is kept). {meta['elapsed_s']:.0f} s in all on "
        f"{meta['cpu_count']} CPUs, {meta['concurrency']} problems at a time, load average "
        f"{meta['load_average']}.",
        "",
        f"Scored by {meta['scorer']}. Accuracy with its Wilson 95 % interval. Tokens are the "
        "policy's, counted by the engine (AR re-reads its path at each step: prompt tokens). "
        "Best-of-N, self-consistency and weighted voting at N use the first N of the same "
        'N_max samples; AR at N its first N paths. A rethink "passed" when the redone step '
        "scored at or above p (the proxy for a rethink fixing a wrong step)."
        + (f" The judge PRM made {meta['prm_calls']} calls." if meta.get("prm_calls") else "")
        + _shared_note(meta.get("run_with") or {}, meta["num_problems_done"]),
        "",
        "| method@N | accuracy [95% CI] | correct | generated tokens / problem "
        "| prompt tokens / problem | rethinks / problem | rethinks whose redo passed p |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        passed = "-" if row["rethinks_passed"] is None else f"{row['rethinks_passed']:.2f}"
        lines.append(
            f"| {row['method']} | {_acc(row)} | {row['num_correct']}/{row['num_problems']} "
            f"| {row['mean_generated_tokens']:.0f} | {row['mean_prompt_tokens']:.0f} "
            f"| {row['rethinks_per_problem']:.2f} | {passed} |"
        )
    lines += [
        "",
        "## Goals (issue 8)",
        "",
        'Pass/fail on the point estimates; "CIs overlap" marks a difference this many problems '
        "cannot resolve.",
        "",
        "| N | goal | result | numbers |",
        "|---:|---|---|---|",
    ]
    for g in goal_rows:
        result = g["status"] + (" (CIs overlap)" if g["ci_overlap"] else "")
        lines.append(f"| {g['n']} | {g['goal']} | {result} | {g['detail']} |")
    if meta.get("plot"):
        lines += ["", f"![accuracy vs generated tokens]({meta['plot']})"]
    return "\n".join(lines) + "\n"


def plot_png(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    """Accuracy (Wilson 95 % bars) against mean generated tokens a problem, one line per method
    across N. Uses a bare Figure, not pyplot, so no global state is shared with other threads."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.8))
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    for name in METHODS:
        points = sorted((r for r in rows if r["name"] == name), key=lambda r: r["n"])
        if name == "greedy":
            points = points[:1]  # the same single sample at every N
        if not points:
            continue
        xs = [r["mean_generated_tokens"] for r in points]
        ys = [r["accuracy"] for r in points]
        errors = [
            [max(0.0, r["accuracy"] - r["ci_low"]) for r in points],
            [max(0.0, r["ci_high"] - r["accuracy"]) for r in points],
        ]
        style = "-o" if name.startswith("ar-") else "--s"
        axis.errorbar(
            xs, ys, yerr=errors, fmt=style, capsize=2, markersize=4, elinewidth=0.6, label=name
        )
        if name in ("bon", "ar-best"):  # the other methods share these x positions
            for r, x, y in zip(points, xs, ys, strict=True):
                axis.annotate(
                    f"N={r['n']}", (x, y), textcoords="offset points", xytext=(3, 4), fontsize=7
                )
    axis.set_xlabel("mean generated tokens per problem")
    axis.set_ylabel("accuracy (95% Wilson interval)")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(textwrap.fill(title, 110), fontsize=9)  # the dataset titles are long
    axis.legend(fontsize=7)
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        figure.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when interrupted before the rename

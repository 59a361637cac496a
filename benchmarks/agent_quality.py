"""The agent's tool-use quality on the embedded model: 40 questions of the tool-use suite.

Questions and gold answers come from evals/suites (generated from the offline snapshot by code
independent of the tools). Half are drawn from the dev split, which prompt and tool work may be
tuned on; half from the test split, held back from any tuning. Both halves are reported apart.
Measured per question: every call valid (schema-valid arguments, an offered tool), the right
tool (the first call is one of the template's expected or acceptable tools), the right number
in the final answer (relative tolerance 1e-3; percent/decimal equivalence), model turns, latency.
Each answer mode (HUIJIN_AGENT_ANSWER: the model words the answer, or it quotes the tools) runs
the same questions on the same loaded model, one after the other, for a side-by-side comparison.

    python benchmarks/agent_quality.py                 # 20 dev + 20 test questions, both modes
    python benchmarks/agent_quality.py --per-split 5 --answer quote   # a quick look

Writes benchmarks/results/agent_quality.json and .md. Goals (issue 4): valid calls 100%, right
tool >= 90%, right final number >= 80%, median latency <= 20 s on a 2-core CPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from itertools import zip_longest
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.api import Assistant
from core.settings import load_settings
from evals.example import Example
from evals.scorers.tooluse import score_tooluse
from evals.suites import build_suite

RESULTS = Path(__file__).parent / "results"
GOALS = {"valid_calls": 1.0, "right_tool": 0.9, "right_number": 0.8, "median_latency_s": 20.0}


def pick(examples: list[Example], count: int) -> list[Example]:
    """`count` questions spread round-robin over the templates (every kind of question)."""
    by_template: dict[str, list[Example]] = {}
    for example in examples:
        by_template.setdefault(example.metadata["template"], []).append(example)
    interleaved = [
        e for group in zip_longest(*by_template.values()) for e in group if e is not None
    ]
    return interleaved[:count]


def contains_number(example: Example, answer: str) -> tuple[bool, str]:
    """Whether the answer states the gold: the suite's own scorer (any number written in the
    answer within tolerance, percent/decimal readings, rounding; the ticker for "which")."""
    score = score_tooluse(example, answer)
    return score.correct, score.extracted


def is_valid_call(call: dict[str, Any]) -> bool:
    """Arguments the tool's schema accepted, for a tool that was offered (a data gap is valid)."""
    result = str(call.get("result", ""))
    return not (result.startswith("error: bad arguments") or "is not offered" in result)


def run_one(assistant: Assistant, example: Example) -> dict[str, Any]:
    started = time.perf_counter()
    answer = assistant.ask(example.question)
    latency = time.perf_counter() - started
    right, extracted = contains_number(example, answer.answer)
    calls = answer.tool_calls
    wanted = set(example.expected_tools) | set(example.metadata.get("acceptable_tools", []))
    return {
        "id": example.id,
        "split": example.split,
        "template": example.metadata["template"],
        "question": example.question,
        "gold": example.gold,
        "answer": answer.answer,
        "matched": extracted,
        "tools_called": [c["name"] for c in calls],
        "arguments": [c["arguments"] for c in calls],
        "valid_calls": bool(calls) and all(is_valid_call(c) for c in calls),
        "right_tool": bool(calls) and calls[0]["name"] in wanted,
        "right_number": right,
        "replaced_answer": bool(answer.grounding.get("replaced")),
        "stop_reason": answer.stop_reason,
        "steps": answer.num_steps,
        "latency_s": round(latency, 2),
        "trajectory_id": answer.trajectory_id,
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {}
    share = lambda key: round(sum(bool(r[key]) for r in rows) / len(rows), 3)  # noqa: E731
    return {
        "questions": len(rows),
        "valid_calls": share("valid_calls"),
        "right_tool": share("right_tool"),
        "right_number": share("right_number"),
        "answers_replaced": share("replaced_answer"),
        "mean_steps": round(statistics.mean(r["steps"] for r in rows), 2),
        "median_latency_s": round(statistics.median(r["latency_s"] for r in rows), 2),
    }


def goal_marks(summary: dict[str, Any]) -> dict[str, bool]:
    return {
        key: (summary[key] <= goal if key == "median_latency_s" else summary[key] >= goal)
        for key, goal in GOALS.items()
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Agent quality on `{report['model_id']}` ({report['machine']}, "
        f"load average at start {report['load_average_start']}), tool-use suite seed "
        f"{report['seed']}, {report['date']}.",
        "",
        "| questions | valid calls | right tool | right number | answers replaced "
        "| mean turns | median latency |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, summary in report["summary"].items():
        lines.append(
            f"| {name} ({summary['questions']}) | {summary['valid_calls']:.0%} | "
            f"{summary['right_tool']:.0%} | {summary['right_number']:.0%} | "
            f"{summary['answers_replaced']:.0%} | {summary['mean_steps']} | "
            f"{summary['median_latency_s']} s |"
        )
    modes = list(report["goals_met"])
    lines.append("")
    for mode, marks in report["goals_met"].items():
        lines.append(
            f"Goals, answer={mode} (all questions): "
            + ", ".join(
                f"{key} {'>=' if key != 'median_latency_s' else '<='} {GOALS[key]}: "
                f"{'pass' if ok else 'FAIL'}"
                for key, ok in marks.items()
            )
        )
    lines += [
        "",
        "Per template (all questions): right tool / right number, per answer mode",
        "",
        "| template | n | " + " | ".join(f"answer={mode}" for mode in modes) + " |",
        "|---|---|" + "---|" * len(modes),
    ]
    by_template: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in report["rows"]:
        by_mode = by_template.setdefault(row["template"], {})
        by_mode.setdefault(row.get("answer_mode", "model"), []).append(row)
    for template, by_mode in by_template.items():
        cells = [
            f"{sum(r['right_tool'] for r in by_mode.get(m, []))} / "
            f"{sum(r['right_number'] for r in by_mode.get(m, []))}"
            for m in modes
        ]
        count = len(next(iter(by_mode.values())))
        lines.append(f"| {template} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-split", type=int, default=20, help="questions from dev and test")
    parser.add_argument("--seed", type=int, default=0, help="tool-use suite seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS / "agent_quality.json")
    parser.add_argument(
        "--answer",
        default="model,quote",
        help="answer modes to compare side by side (HUIJIN_AGENT_ANSWER values), comma-separated",
    )
    args = parser.parse_args()

    settings = load_settings()
    if settings.market_snapshot is None:
        raise SystemExit("set HUIJIN_MARKET_SNAPSHOT (make sets it to ../shared/data/market)")
    suite = build_suite(settings.market_snapshot, seed=args.seed)
    chosen = [
        *pick([e for e in suite if e.split == "dev"], args.per_split),
        *pick([e for e in suite if e.split == "test"], args.per_split),
    ]
    import torch

    from model.engine.factory import create_engine

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    modes = [mode.strip() for mode in args.answer.split(",") if mode.strip()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        run_settings = settings.model_copy(
            update={"data_dir": Path(data_dir), "market_live": False, "database_url": None}
        )
        engine = create_engine(run_settings)  # one model for every answer mode
        model_id = engine.model_id
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("right number {task.fields[right]}"),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns) as progress:
                for mode in modes:
                    mode_settings = run_settings.model_copy(update={"agent_answer": mode})
                    assistant = Assistant(mode_settings, engine=engine)
                    task = progress.add_task(f"answer={mode}", total=len(chosen), right=0)
                    done: list[dict[str, Any]] = []
                    try:
                        for example in chosen:
                            done.append({**run_one(assistant, example), "answer_mode": mode})
                            right = sum(r["right_number"] for r in done)
                            progress.update(task, advance=1, right=f"{right}/{len(done)}")
                    finally:
                        assistant.close()
                    rows += done
        finally:
            engine.close()
    summary: dict[str, Any] = {}
    for mode in modes:
        mine = [r for r in rows if r["answer_mode"] == mode]
        summary[f"answer={mode}: dev (tuned on)"] = summarize(
            [r for r in mine if r["split"] == "dev"]
        )
        summary[f"answer={mode}: test (held back)"] = summarize(
            [r for r in mine if r["split"] == "test"]
        )
        summary[f"answer={mode}: all"] = summarize(mine)
    report = {
        "model_id": model_id,
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}",
        "load_average_start": round(load_start, 2),
        "seed": args.seed,
        "settings": {
            key: str(getattr(settings, key))
            for key in (
                "agent_max_steps",
                "agent_max_tools_in_prompt",
                "agent_max_new_tokens",
                "agent_constrained",
                "agent_on_unsupported",
                "agent_answer",
                "temperature",
            )
        },
        "goals": GOALS,
        "goals_met": {mode: goal_marks(summary[f"answer={mode}: all"]) for mode in modes},
        "summary": summary,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()

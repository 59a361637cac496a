"""The agent's tool-use quality on the embedded model: 40 questions of the tool-use suite.

Questions and gold answers come from evals/suites (generated from the offline snapshot by code
independent of the tools). Half are drawn from the dev split, which prompt and tool work may be
tuned on; half from the test split, held back from any tuning. Both halves are reported apart.
Measured per question: every call valid (schema-valid arguments, an offered tool), the right
tool (the first call is one of the template's expected or acceptable tools), the right number
in the final answer (relative tolerance 1e-3; percent/decimal equivalence), model turns, latency.

    python benchmarks/agent_quality.py                 # 20 dev + 20 test questions
    python benchmarks/agent_quality.py --per-split 5   # a quick look

Writes benchmarks/results/agent_quality.json and .md. Goals (issue 4): valid calls 100%, right
tool >= 90%, right final number >= 80%, median latency <= 20 s on a 2-core CPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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
from evals.example import AnswerType, Example
from evals.numbers import close, find_numbers
from evals.scorers.numeric import candidates, rounded_match
from evals.scorers.tooluse import score_tooluse
from evals.suites import build_suite

RESULTS = Path(__file__).parent / "results"
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
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
    """Whether any number written in the answer is the gold (rel. tolerance, percent/decimal
    readings, or the gold rounded to the digits shown); dates are not numbers here."""
    if example.answer_type is AnswerType.SPAN:  # "which returned more": the ticker named
        score = score_tooluse(example, answer)
        return score.correct, score.extracted
    gold = float(example.gold_value)
    rel_tol = float(example.metadata.get("rel_tol", 1e-3))
    sign_free = bool(example.metadata.get("sign_free"))
    # Our tools write negatives with a minus sign, so "(8.06%)" is a parenthesis, not -8.06.
    text = re.sub(r"[()]", " ", ISO_DATE.sub(" ", answer))
    for value, is_pct in find_numbers(text):
        decimals = _decimals_near(text, value)
        for reading, digits in candidates(value, is_pct, decimals):
            for target in (gold, -gold) if sign_free else (gold,):
                if close(reading, target, rel_tol=rel_tol, abs_tol=1e-9) or rounded_match(
                    target, reading, digits
                ):
                    return True, f"{value:g}{'%' if is_pct else ''}"
    return False, ""


def _decimals_near(text: str, value: float) -> int:
    for token in re.findall(r"-?\d[\d,]*\.?\d*", text):
        try:
            if (
                abs(float(token.replace(",", "")) - abs(value)) < 1e-12
                or float(token.replace(",", "")) == value
            ):
                return len(token.split(".", 1)[1]) if "." in token else 0
        except ValueError:
            continue
    return 0


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
    marks = report["goals_met"]
    lines += [
        "",
        "Goals (all questions): "
        + ", ".join(
            f"{key} {'>=' if key != 'median_latency_s' else '<='} {GOALS[key]}: "
            f"{'pass' if ok else 'FAIL'}"
            for key, ok in marks.items()
        ),
        "",
        "Per template (all questions): right tool / right number",
        "",
        "| template | n | right tool | right number |",
        "|---|---|---|---|",
    ]
    by_template: dict[str, list[dict[str, Any]]] = {}
    for row in report["rows"]:
        by_template.setdefault(row["template"], []).append(row)
    for template, rows in by_template.items():
        lines.append(
            f"| {template} | {len(rows)} | {sum(r['right_tool'] for r in rows)} | "
            f"{sum(r['right_number'] for r in rows)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-split", type=int, default=20, help="questions from dev and test")
    parser.add_argument("--seed", type=int, default=0, help="tool-use suite seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS / "agent_quality.json")
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

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data_dir:
        run_settings = settings.model_copy(
            update={"data_dir": Path(data_dir), "market_live": False, "database_url": None}
        )
        assistant = Assistant(run_settings)
        rows = []
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("right number {task.fields[right]}"),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns) as progress:
                task = progress.add_task("agent quality", total=len(chosen), right=0)
                for example in chosen:
                    rows.append(run_one(assistant, example))
                    right = sum(r["right_number"] for r in rows)
                    progress.update(task, advance=1, right=f"{right}/{len(rows)}")
        finally:
            model_id = assistant.engine.model_id
            assistant.close()
    summary = {
        "dev (tuned on)": summarize([r for r in rows if r["split"] == "dev"]),
        "test (held back)": summarize([r for r in rows if r["split"] == "test"]),
        "all": summarize(rows),
    }
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
                "temperature",
            )
        },
        "goals": GOALS,
        "goals_met": goal_marks(summary["all"]),
        "summary": summary,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()

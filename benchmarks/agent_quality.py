"""The agent's tool-use quality on the embedded model: 40 questions of the tool-use suite.

Questions and gold answers come from evals/suites (generated from the offline snapshot by code
independent of the tools). Half are drawn from the dev split, which prompt and tool work may be
tuned on; half from the test split, held back from any tuning. Both halves are reported apart.
Measured per question: every call valid (schema-valid arguments, an offered tool), the right
tool (the first call is one of the template's expected or acceptable tools), the right number
in the final answer (relative tolerance 1e-3; percent/decimal equivalence), model turns, latency.
Each answer mode (HUIJIN_AGENT_ANSWER: the model words the answer, or it quotes the tools) runs
the same questions on the same loaded model, one after the other, for a side-by-side comparison.
With --kv-cache, each KV cache kind (HUIJIN_KV_CACHE values: fp16, nqkv4, nqkv4_fit, ...) gets
its own engine, loaded after the previous one is closed, and runs the same questions (quote mode
unless --answer says otherwise); the JSON records each engine's info (the kind it resolved to and
its options), and the markdown adds how often each kind called the same tools with the same
arguments and gave the same answer as the first kind.

    python benchmarks/agent_quality.py                 # 20 dev + 20 test questions, both modes
    python benchmarks/agent_quality.py --per-split 5 --answer quote   # a quick look
    python benchmarks/agent_quality.py --kv-cache fp16,nqkv4,nqkv4_fit  # KV caches side by side

Writes benchmarks/results/agent_quality.json and .md (agent_quality_kv.json and .md with
--kv-cache). Goals (issue 4): valid calls 100%, right tool >= 90%, right final number >= 80%,
median latency <= 20 s on a 2-core CPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from itertools import groupby, zip_longest
from pathlib import Path
from typing import Any

from _agent_quality_report import agreement, markdown
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from agent.api import Assistant
from app.progress import LoggedProgress
from core.settings import KV_CACHES, Settings, load_settings
from evals.example import Example
from evals.scorers.tooluse import score_tooluse
from evals.suites import build_suite

RESULTS = Path(__file__).parent / "results"
GOALS = {"valid_calls": 1.0, "right_tool": 0.9, "right_number": 0.8, "median_latency_s": 20.0}


@dataclass(frozen=True)
class Arm:
    """One column of the comparison: a KV cache kind (None: the settings' own) and answer mode."""

    kv_cache: str | None
    answer: str

    @property
    def label(self) -> str:
        if self.kv_cache is None:
            return f"answer={self.answer}"
        return f"kv={self.kv_cache}, answer={self.answer}"


def plan_arms(kv_caches: list[str], modes: list[str]) -> list[Arm]:
    """Every (KV cache, answer mode) pair, grouped by cache so each engine loads once."""
    unknown = [name for name in kv_caches if name not in KV_CACHES]
    if unknown:
        raise ValueError(
            f"unknown --kv-cache {', '.join(unknown)}; choose from {', '.join(KV_CACHES)}"
        )
    if not kv_caches:
        return [Arm(None, mode) for mode in modes]
    return [Arm(kv_cache, mode) for kv_cache in kv_caches for mode in modes]


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


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


def engine_record(engine: Any) -> dict[str, Any]:
    """What was loaded: the resolved KV cache kind and its options come from the engine itself."""
    info = engine.info()
    return {
        "model_id": info.model_id,
        "backend": info.backend,
        "dtype": info.dtype,
        "device": info.device,
        "load_time_s": round(info.load_time_s, 2),
        **info.extra,
    }


def run_arms(
    run_settings: Settings, arms: list[Arm], chosen: list[Example]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], str]:
    """Every arm on the chosen questions: one engine per KV cache, closed before the next loads."""
    from model.engine.factory import create_engine

    rows: list[dict[str, Any]] = []
    engines: dict[str, dict[str, Any]] = {}
    model_id = ""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("right number {task.fields[right]}"),
        TimeElapsedColumn(),
    )
    with LoggedProgress(*columns) as progress:
        for kv_cache, group in groupby(arms, key=lambda arm: arm.kv_cache):
            update = {} if kv_cache is None else {"kv_cache": kv_cache}
            engine_settings = run_settings.model_copy(update=update)
            engine = create_engine(engine_settings)  # one model for every answer mode
            model_id = engine.model_id
            try:
                if kv_cache is not None:
                    engines[kv_cache] = engine_record(engine)
                for arm in group:
                    mode_settings = engine_settings.model_copy(update={"agent_answer": arm.answer})
                    assistant = Assistant(mode_settings, engine=engine)
                    task = progress.add_task(arm.label, total=len(chosen), right=0)
                    done: list[dict[str, Any]] = []
                    try:
                        for example in chosen:
                            row = run_one(assistant, example)
                            done.append(
                                {
                                    **row,
                                    "answer_mode": arm.answer,
                                    "kv_cache": engine_settings.kv_cache,
                                    "arm": arm.label,
                                }
                            )
                            right = sum(r["right_number"] for r in done)
                            progress.update(task, advance=1, right=f"{right}/{len(done)}")
                    finally:
                        assistant.close()
                    rows += done
            finally:
                engine.close()
    return rows, engines, model_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-split", type=int, default=20, help="questions from dev and test")
    parser.add_argument("--seed", type=int, default=0, help="tool-use suite seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (.md beside it); default by mode"
    )
    parser.add_argument(
        "--answer",
        default=None,
        help="answer modes to compare side by side (HUIJIN_AGENT_ANSWER values), comma-separated;"
        " default model,quote, or quote with --kv-cache",
    )
    parser.add_argument(
        "--kv-cache",
        default=None,
        help="KV cache kinds to compare side by side (HUIJIN_KV_CACHE values, e.g. "
        "fp16,nqkv4,nqkv4_fit), comma-separated; one engine each, loaded one after the other",
    )
    args = parser.parse_args()
    kv_caches = split_list(args.kv_cache)
    modes = split_list(args.answer) or (["quote"] if kv_caches else ["model", "quote"])
    try:
        arms = plan_arms(kv_caches, modes)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    out = args.out or RESULTS / ("agent_quality_kv.json" if kv_caches else "agent_quality.json")

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
        rows, engines, model_id = run_arms(run_settings, arms, chosen)
    summary: dict[str, Any] = {}
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm.label]
        summary[f"{arm.label}: dev (tuned on)"] = summarize(
            [r for r in mine if r["split"] == "dev"]
        )
        summary[f"{arm.label}: test (held back)"] = summarize(
            [r for r in mine if r["split"] == "test"]
        )
        summary[f"{arm.label}: all"] = summarize(mine)
    report = {
        "model_id": model_id,
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}",
        "load_average_start": round(load_start, 2),
        "load_average_end": round(os.getloadavg()[0], 2),
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
                "kv_cache",
                "kv_block_size",
                "kv_residual_tokens",
                "kv_sink_tokens",
            )
        },
        "engines": engines,
        "goals": GOALS,
        "goals_met": {arm.label: goal_marks(summary[f"{arm.label}: all"]) for arm in arms},
        "agreement": {
            arm.label: agreement(rows, arms[0].label, arm.label)
            for arm in arms[1:]
            if kv_caches and arm.answer == arms[0].answer
        },
        "summary": summary,
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()

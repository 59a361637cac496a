"""Prompts that arrive together and begin alike: prefill their shared start once, or once each.

The engine's prefix cache reuses the KV of prompts prefilled before; prompts new to it that arrive
in one prefill call used to be prefilled whole, each of them. Two workloads repeat that pattern:

- `group`: G = 8 rollouts of one tool-use question (`huijin train collect --group 8`) send the
  same first-turn agent prompt (system prompt, tool schemas, question) at once;
- `judge`: the LLM-judge PRM scores every step of 4 solutions in one batch; the prompt for step k
  repeats the problem and steps 1..k-1 (GSM8K train problems, their gold steps).

Each workload runs on one loaded embedded engine with in-batch sharing on and off
(`ModelRunner.share_batch_prefixes`), alternating, the prefix cache emptied before every run;
the median wall time of --repeats runs, the ratio, and whether both arms gave the same greedy
first tokens (group) and judge scores within 1e-3 (judge).

    python benchmarks/prefill_sharing.py          # ~5 min on 2 cores

Writes benchmarks/results/prefill_sharing.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from agent.api import Assistant
from agent.prompts import build_system_prompt
from agent.tool_selection import confident_tools
from core.settings import load_settings
from evals.benchmarks import default_data_path, load_benchmark
from model.engine.types import SamplingParams
from model.reasoning.judge_prm import JudgePRM
from model.reasoning.prm import Solution

RESULTS = Path(__file__).parent / "results"
GROUP = 8
SOLUTIONS = 4


def group_workload(engine: Any, settings: Any) -> Callable[[], list[Any]]:
    """G copies of the agent's first-turn prompt for one tool-use train question."""
    if settings.market_snapshot is None:
        raise SystemExit("set HUIJIN_MARKET_SNAPSHOT (make sets it to ../shared/data/market)")
    question = load_benchmark("tooluse", settings.market_snapshot, "train", 0)[0].question
    assistant = Assistant(settings, engine=engine)
    try:
        specs = assistant.registry.schemas()
        runtime = assistant.runtime
        offered, _ = confident_tools(
            question, specs, runtime.config.max_tools_in_prompt, runtime.config.first_call_ratio
        )
        names = [spec["function"]["name"] for spec in offered]
        system = build_system_prompt(names, runtime.today, runtime.as_of)
    finally:
        assistant.close()
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    params = SamplingParams(max_new_tokens=1, temperature=0.0)

    def run() -> list[Any]:
        results = engine.chat_batch([messages] * GROUP, tools=offered, params=params)
        return [result.completion_ids for result in results]

    return run


def judge_workload(engine: Any, settings: Any) -> Callable[[], list[Any]]:
    """The judge PRM over 4 GSM8K train problems' gold solutions, one line a step."""
    path = default_data_path("gsm8k", "train", settings.benchmarks_dir)
    if path is None:
        raise SystemExit("no GSM8K train file: set HUIJIN_BENCHMARKS_DIR")
    examples = load_benchmark("gsm8k", path, "train")[:SOLUTIONS]
    solutions = []
    for example in examples:
        worked = str(example.metadata.get("solution", "")).rsplit("####", 1)[0]
        steps = [line for line in worked.splitlines() if line.strip()]
        if not steps:
            raise SystemExit(f"GSM8K {example.id} has no worked solution to split into steps")
        solutions.append(Solution(example.question, tuple(steps)))

    def run() -> list[Any]:
        return JudgePRM(engine).score(solutions)  # a new judge: its score cache starts empty

    return run


def same(name: str, first: list[Any], second: list[Any]) -> bool:
    if name == "group":
        return first == second
    flat = [
        (a, b)
        for row_a, row_b in zip(first, second, strict=True)
        for a, b in zip(row_a, row_b, strict=True)
    ]
    return all(abs(a - b) <= 1e-3 for a, b in flat)


def measure(engine: Any, run: Callable[[], list[Any]], repeats: int) -> dict[str, Any]:
    runner = engine._runner
    times: dict[str, list[float]] = {"on": [], "off": []}
    outputs: dict[str, list[Any]] = {}
    stats: dict[str, dict[str, int]] = {}
    for _ in range(repeats):
        for arm in ("on", "off"):
            runner.share_batch_prefixes = arm == "on"
            engine.forget_prefixes()
            before = runner.prefix_cache.stats.reused_tokens
            started = time.perf_counter()
            outputs[arm] = run()
            times[arm].append(time.perf_counter() - started)
            stats[arm] = {"reused_tokens": runner.prefix_cache.stats.reused_tokens - before}
    runner.share_batch_prefixes = True
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    return {
        "seconds": times,
        "median_on_s": on,
        "median_off_s": off,
        "speedup": off / on,
        "reused_tokens": stats,
        "outputs": outputs,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Prefill sharing: prompts of one prefill that begin alike",
        "",
        f"{result['date']} · {result['machine']} · load average at start "
        f"{result['load_average_start']:.2f} · median of {result['repeats']} runs per arm, "
        "arms alternating on one engine, prefix cache emptied before each run",
        "",
        "| workload | prompts | sharing off (s) | sharing on (s) | speedup | prompt tokens reused "
        "(off / on) | same output |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in result["workloads"].items():
        reused = row["reused_tokens"]
        lines.append(
            f"| {name} | {row['prompts']} | {row['median_off_s']:.2f} | {row['median_on_s']:.2f} "
            f"| {row['speedup']:.2f}x | {reused['off']['reused_tokens']:,} / "
            f"{reused['on']['reused_tokens']:,} | {'yes' if row['same_output'] else 'NO'} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "prefill_sharing.json")
    args = parser.parse_args()
    from model.engine.factory import create_engine

    settings = load_settings().model_copy(update={"market_live": False})
    engine = create_engine(settings)
    if getattr(engine, "_runner", None) is None or engine._runner.prefix_cache is None:
        raise SystemExit("needs the transformers engine with its prefix cache on")
    load_start = os.getloadavg()[0]
    workloads = {}
    try:
        for name, build, prompts in (
            ("group", group_workload, GROUP),
            ("judge", judge_workload, None),
        ):
            run = build(engine, settings)
            row = measure(engine, run, args.repeats)
            outputs = row.pop("outputs")
            row["same_output"] = same(name, outputs["on"], outputs["off"])
            row["prompts"] = prompts or sum(len(scores) for scores in outputs["on"])
            workloads[name] = row
            print(f"{name}: {row['median_off_s']:.2f}s -> {row['median_on_s']:.2f}s", flush=True)
    finally:
        engine.close()
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "model": settings.model,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0],
        "repeats": args.repeats,
        "workloads": workloads,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

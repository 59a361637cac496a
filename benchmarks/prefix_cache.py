"""What prefix reuse buys the agent: the same questions with the prefix cache off, on, and on with
a prompt that only grows from turn to turn, one engine after the other, in one run.

Each agent step re-sends the conversation so far (system prompt, tool schemas, the question, the
earlier calls and results); with the cache on (HUIJIN_PREFIX_CACHE_MB), a step prefills only what
it adds to a prompt seen before. The first turn shows only the tools it may call and later turns
every offered tool, so a later turn's prompt parts from the first one's after the callable tools'
schemas and re-reads the rest. The arms:

- `off`: no prefix cache; the first turn shows only the tools it may call;
- `on`: prefix cache (the default), same prompts;
- `on+grow`: prefix cache, every turn shows all offered tools (AgentConfig.first_turn_tools=
  "offered"; the first call is still constrained to the confident matches), so each turn's
  prompt begins with the whole previous one.

Measured per question (concurrency 1, quote mode as the evals run it): latency, model turns, the
benchmark's own score, and whether the calls and the answer are those of the `off` arm; per
engine: the share of prompt tokens reused.

    python benchmarks/prefix_cache.py                                # 10 tool-use dev questions
    python benchmarks/prefix_cache.py --benchmark tatqa --questions 8  # documents in the prompt

Writes benchmarks/results/prefix_cache[_BENCHMARK].json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from agent_quality import engine_record, pick

from agent.api import Assistant
from core.settings import load_settings
from evals.benchmarks import default_data_path, load_benchmark
from evals.example import Example
from evals.prompts import agent_question
from evals.scorers import score_example

RESULTS = Path(__file__).parent / "results"
# name -> (prefix cache MB, what the first turn's prompt shows)
ARMS = {"off": (0, "callable"), "on": (1024, "callable"), "on+grow": (1024, "offered")}
DEV_SPLITS = {"tooluse": "dev", "tatqa": "dev", "convfinqa": "dev", "finqa": "test"}


def load_questions(settings: Any, benchmark: str, count: int, seed: int) -> list[Example]:
    split = DEV_SPLITS[benchmark]
    if benchmark == "tooluse":
        if settings.market_snapshot is None:
            raise SystemExit("set HUIJIN_MARKET_SNAPSHOT (make sets it to ../shared/data/market)")
        return pick(load_benchmark("tooluse", settings.market_snapshot, split, seed), count)
    path = default_data_path(benchmark, split, settings.benchmarks_dir)
    if path is None:
        raise SystemExit(f"no {benchmark} {split} file: set HUIJIN_BENCHMARKS_DIR")
    return load_benchmark(benchmark, path, split)[:count]


def run_one(assistant: Assistant, example: Example) -> dict[str, Any]:
    started = time.perf_counter()
    answer = assistant.ask(agent_question(example))
    latency = time.perf_counter() - started
    score = score_example(example, answer.answer, tool_calls=answer.tool_calls)
    return {
        "id": example.id,
        "answer": answer.answer,
        "tools_called": [c["name"] for c in answer.tool_calls],
        "arguments": [c["arguments"] for c in answer.tool_calls],
        "correct": bool(score.correct),
        "steps": answer.num_steps,
        "latency_s": round(latency, 2),
    }


def run_arm(settings: Any, arm: str, questions: list[Example]) -> dict[str, Any]:
    from model.engine.factory import create_engine

    megabytes, first_turn_tools = ARMS[arm]
    arm_settings = settings.model_copy(
        update={"prefix_cache_mb": megabytes, "agent_answer": "quote"}
    )
    engine = create_engine(arm_settings)
    try:
        assistant = Assistant(arm_settings, engine=engine)
        assistant.runtime.config = replace(
            assistant.runtime.config, first_turn_tools=first_turn_tools
        )
        try:
            rows = []
            for example in questions:
                rows.append(run_one(assistant, example))
                print(f"  {arm}: {len(rows)}/{len(questions)}", flush=True)
        finally:
            assistant.close()
        return {"rows": rows, "engine": engine_record(engine)}
    finally:
        engine.close()


def markdown(result: dict[str, Any]) -> str:
    base = result["arms"]["off"]["median_latency_s"]
    lines = [
        "# Prefix reuse: the agent with the prefix cache off, on, and on with a growing prompt",
        "",
        f"{result['date']} · {result['questions']} {result['benchmark']} "
        f"{result['split']} questions, quote mode, concurrency 1 · load average at start "
        f"{result['load_average_start']:.1f}",
        "",
        "| arm | prefix cache | first turn shows | median latency (s) | vs off "
        "| mean latency (s) | mean agent steps | prompt tokens reused | correct "
        "| same calls and answer as off |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (megabytes, shows) in ARMS.items():
        arm = result["arms"][name]
        lines.append(
            f"| {name} | {'on' if megabytes else 'off'} | {shows} tools "
            f"| {arm['median_latency_s']:.2f} | {arm['median_latency_s'] / base:.2f}x "
            f"| {arm['mean_latency_s']:.2f} | {arm['mean_turns']:.2f} "
            f"| {100 * arm['reused_share']:.0f}% | {arm['correct']}/{result['questions']} "
            f"| {arm['same_as_off']}/{result['questions']} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", choices=sorted(DEV_SPLITS), default="tooluse")
    parser.add_argument("--questions", type=int, default=10, help="questions per arm")
    parser.add_argument("--seed", type=int, default=0, help="tool-use suite seed")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    settings = load_settings()
    questions = load_questions(settings, args.benchmark, args.questions, args.seed)
    load_start = os.getloadavg()[0]
    arms: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        run_settings = settings.model_copy(
            update={"data_dir": Path(data_dir), "market_live": False, "database_url": None}
        )
        for name in ARMS:
            arms[name] = run_arm(run_settings, name, questions)

    def decisions(row: dict[str, Any]) -> tuple[Any, ...]:
        return row["tools_called"], row["arguments"], row["answer"]

    for arm in arms.values():
        rows = arm["rows"]
        latencies = [row["latency_s"] for row in rows]
        engine = arm["engine"]
        arm["median_latency_s"] = statistics.median(latencies)
        arm["mean_latency_s"] = statistics.fmean(latencies)
        arm["mean_turns"] = statistics.fmean(row["steps"] for row in rows)
        arm["correct"] = sum(row["correct"] for row in rows)
        arm["same_as_off"] = sum(
            decisions(a) == decisions(b) for a, b in zip(arms["off"]["rows"], rows, strict=True)
        )
        prompt = engine.get("prefix_prompt_tokens", 0)
        arm["reused_share"] = engine.get("prefix_reused_tokens", 0) / prompt if prompt else 0.0
    result = {
        "date": date.today().isoformat(),
        "benchmark": args.benchmark,
        "split": DEV_SPLITS[args.benchmark],
        "questions": len(questions),
        "load_average_start": load_start,
        "arms": arms,
    }
    suffix = "" if args.benchmark == "tooluse" else f"_{args.benchmark}"
    out = args.out or RESULTS / f"prefix_cache{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

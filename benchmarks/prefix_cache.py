"""What prefix reuse (HUIJIN_PREFIX_CACHE_MB) buys the agent: the same tool-use questions with the
prefix cache off and on, one engine after the other, in one run.

Each agent step re-sends the conversation so far (system prompt, tool schemas, the question, the
earlier calls and results); with the cache on, a step prefills only what it adds. Measured per
question (the tool-use suite's dev split, quote mode, concurrency 1, as benchmarks/agent_quality.py
runs it): latency, model turns, and whether the calls and the answer are the same as with the
cache off (float rounding may differ, decisions should not); per engine: the share of prompt
tokens reused.

    python benchmarks/prefix_cache.py                 # 10 dev questions
    python benchmarks/prefix_cache.py --questions 4   # a quick look

Writes benchmarks/results/prefix_cache.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from agent_quality import engine_record, pick, run_one

from agent.api import Assistant
from core.settings import load_settings
from evals.suites.tooluse import build_suite

RESULTS = Path(__file__).parent / "results"
ARMS = (("off", 0), ("on", 1024))


def run_arm(settings: Any, prefix_cache_mb: int, questions: list[Any]) -> dict[str, Any]:
    from model.engine.factory import create_engine

    arm_settings = settings.model_copy(
        update={"prefix_cache_mb": prefix_cache_mb, "agent_answer": "quote"}
    )
    engine = create_engine(arm_settings)
    try:
        assistant = Assistant(arm_settings, engine=engine)
        try:
            rows = []
            for example in questions:
                rows.append(run_one(assistant, example))
                print(f"  prefix cache {prefix_cache_mb} MB: {len(rows)}/{len(questions)}")
        finally:
            assistant.close()
        return {"rows": rows, "engine": engine_record(engine)}
    finally:
        engine.close()


def markdown(result: dict[str, Any]) -> str:
    off, on = result["arms"]["off"], result["arms"]["on"]
    lines = [
        "# Prefix reuse: the agent with the prefix cache off and on",
        "",
        f"{result['date']} · {result['questions']} tool-use dev questions, quote mode, "
        f"concurrency 1 · load average at start {result['load_average_start']:.1f}",
        "",
        "| prefix cache | median latency (s) | mean latency (s) | mean agent steps "
        "| prompt tokens reused |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("off", "on"):
        arm = result["arms"][name]
        lines.append(
            f"| {name} | {arm['median_latency_s']:.2f} | {arm['mean_latency_s']:.2f} "
            f"| {arm['mean_turns']:.2f} | {100 * arm['reused_share']:.0f}% |"
        )
    lines += [
        "",
        f"Median latency on / off: **{on['median_latency_s'] / off['median_latency_s']:.2f}x**. "
        f"Same tool calls and same answer as with the cache off: "
        f"{result['same_calls_and_answer']}/{result['questions']} questions.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=10, help="tool-use dev questions")
    parser.add_argument("--seed", type=int, default=0, help="tool-use suite seed")
    parser.add_argument("--out", type=Path, default=RESULTS / "prefix_cache.json")
    args = parser.parse_args()
    settings = load_settings()
    if settings.market_snapshot is None:
        raise SystemExit("set HUIJIN_MARKET_SNAPSHOT (make sets it to ../shared/data/market)")
    suite = build_suite(settings.market_snapshot, seed=args.seed)
    questions = pick([e for e in suite if e.split == "dev"], args.questions)
    load_start = os.getloadavg()[0]
    arms: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        run_settings = settings.model_copy(
            update={"data_dir": Path(data_dir), "market_live": False, "database_url": None}
        )
        for name, megabytes in ARMS:
            arms[name] = run_arm(run_settings, megabytes, questions)
    for arm in arms.values():
        latencies = [row["latency_s"] for row in arm["rows"]]
        engine = arm["engine"]
        arm["median_latency_s"] = statistics.median(latencies)
        arm["mean_latency_s"] = statistics.fmean(latencies)
        arm["mean_turns"] = statistics.fmean(row["steps"] for row in arm["rows"])
        prompt = engine.get("prefix_prompt_tokens", 0)
        arm["reused_share"] = engine.get("prefix_reused_tokens", 0) / prompt if prompt else 0.0
    same = sum(
        (a["tools_called"], a["arguments"], a["answer"])
        == (b["tools_called"], b["arguments"], b["answer"])
        for a, b in zip(arms["off"]["rows"], arms["on"]["rows"], strict=True)
    )
    result = {
        "date": date.today().isoformat(),
        "questions": len(questions),
        "load_average_start": load_start,
        "same_calls_and_answer": same,
        "arms": arms,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

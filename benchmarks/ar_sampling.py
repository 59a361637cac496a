"""AR-Sampling against its baselines on GSM8K problems: accuracy, tokens, rethinks.

For each problem (the first K of GSM8K's train split, read from HUIJIN_BENCHMARKS_DIR or
--data-dir, never copied into the repo) it runs, with one PRM:
  - greedy chain-of-thought (1 sample);
  - N_max whole solutions, scored once, then self-consistency, Best-of-N and PRM-weighted voting
    at every N <= N_max on the first N samples (the reference code subsamples the same way);
  - AR-Sampling with N_max paths, then its three selection rules at every N on the first N paths
    (paths are independent, so the first N are an honest run at N).
Every method's generated tokens are counted by the engine (prompt tokens too). Seeds are fixed
per problem and shared by the methods; no problem or seed is dropped. Writes
benchmarks/results/ar_sampling_<prm>.json and .md; the JSON is rewritten after every problem.

    python benchmarks/ar_sampling.py --num-problems 20 --n-max 4 --max-tokens 192 --prm verifier
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from core.settings import load_settings
from model.engine.factory import create_engine
from model.reasoning import Method, ReasoningConfig, load_prm, normalize_answer, reason, reselect

RESULTS = Path(__file__).resolve().parent / "results"
ROWS = [
    ("greedy", Method.GREEDY, None),
    ("sc", Method.SC, None),
    ("bon", Method.BON, None),
    ("weighted", Method.WEIGHTED, None),
    ("ar-best", Method.AR, "best"),
    ("ar-weighted", Method.AR, "weighted"),
    ("ar-majority", Method.AR, "majority"),
]


def load_gsm8k(data_dir: Path, num_problems: int) -> list[dict[str, str]]:
    path = data_dir / "gsm8k" / "train.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} not found; pass --data-dir or set HUIJIN_BENCHMARKS_DIR")
    problems = []
    with path.open() as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                gold = normalize_answer(item["answer"].rsplit("####", 1)[1])
                problems.append({"question": item["question"], "gold": gold})
            if len(problems) == num_problems:
                break
    return problems


def run_problem(engine, prm, problem, index: int, args) -> dict:
    base = ReasoningConfig(
        num_samples=args.n_max,
        max_tokens=args.max_tokens,
        threshold=args.p,
        max_rethinks=args.m,
        temperature=args.temperature,
        seed=args.seed + 1000 * index,
    )
    question = problem["question"]
    greedy = reason(engine, question, prm=prm, config=base, method="greedy")
    sampled = reason(engine, question, prm=prm, config=base, method="sc")
    ar = reason(engine, question, prm=prm, config=base, method="ar")
    record = {"index": index, "gold": problem["gold"], "methods": {}}
    for n in sorted({1, 2, 4, 8, args.n_max} & set(range(1, args.n_max + 1))):
        for name, method, selection in ROWS:
            if method is Method.GREEDY:
                result = greedy
            elif method is Method.AR:
                result = reselect(ar, method, n, selection)
            else:
                result = reselect(sampled, method, n)
            record["methods"][f"{name}@{n}"] = summarise(result, problem["gold"], args.p)
    return record


def summarise(result, gold: str, threshold: float) -> dict:
    rethinks = [(s, r) for s in result.samples for r in s.rethinks]
    fixed = sum(
        1
        for sample, r in rethinks
        if r.step_index + 1 < len(sample.steps)
        and (sample.steps[r.step_index + 1].score or 0.0) >= threshold
    )
    return {
        "answer": result.answer,
        "is_correct": result.answer == gold,
        "generated_tokens": result.usage.generated_tokens,
        "prompt_tokens": result.usage.prompt_tokens,
        "num_rethinks": len(rethinks),
        "num_rethinks_passed": fixed,
    }


def table(records: list[dict]) -> list[dict]:
    keys = list(records[0]["methods"]) if records else []
    rows = []
    for key in keys:
        entries = [r["methods"][key] for r in records]
        num = len(entries)
        rethinks = sum(e["num_rethinks"] for e in entries)
        rows.append(
            {
                "method": key,
                "accuracy": sum(e["is_correct"] for e in entries) / num,
                "num_correct": sum(e["is_correct"] for e in entries),
                "mean_generated_tokens": sum(e["generated_tokens"] for e in entries) / num,
                "mean_prompt_tokens": sum(e["prompt_tokens"] for e in entries) / num,
                "rethinks_per_problem": rethinks / num,
                "rethinks_passed": (
                    sum(e["num_rethinks_passed"] for e in entries) / rethinks if rethinks else None
                ),
            }
        )
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"# AR-Sampling vs baselines on GSM8K (train, first {meta['num_problems_done']} problems)",
        "",
        f"Model {meta['model']}, PRM {meta['prm']}, p {meta['p']}, m {meta['m']}, temperature "
        f"{meta['temperature']}, budget {meta['max_tokens']} generated tokens per sample, seed "
        f"{meta['seed']}. {meta['elapsed_s']:.0f} s on {os.cpu_count()} CPUs, load average "
        f"{meta['load_average']}.",
        "",
        "| method@N | accuracy | correct | generated tokens / problem | prompt tokens / problem "
        "| rethinks / problem | rethinks whose redo passed p |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        passed = "-" if row["rethinks_passed"] is None else f"{row['rethinks_passed']:.2f}"
        lines.append(
            f"| {row['method']} | {row['accuracy']:.3f} | {row['num_correct']} "
            f"| {row['mean_generated_tokens']:.0f} | {row['mean_prompt_tokens']:.0f} "
            f"| {row['rethinks_per_problem']:.2f} | {passed} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-problems", type=int, default=20)
    parser.add_argument("--n-max", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--prm", default="verifier")
    parser.add_argument("--p", type=float, default=0.4)
    parser.add_argument("--m", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    settings = load_settings()
    data_dir = args.data_dir or settings.benchmarks_dir or Path("../shared/data/benchmarks")
    problems = load_gsm8k(Path(data_dir), args.num_problems)
    engine = create_engine(settings)
    prm = load_prm(args.prm, engine=engine, device=settings.device)
    name = args.prm if args.prm in ("verifier", "judge") else Path(args.prm).name
    out = RESULTS / f"ar_sampling_{name.replace(':', '-').replace(',', '_')}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    started, records = time.perf_counter(), []
    try:
        for index, problem in enumerate(problems):
            records.append(run_problem(engine, prm, problem, index, args))
            meta = {
                **{k: v for k, v in vars(args).items() if k != "data_dir"},
                "model": engine.model_id,
                "num_problems_done": len(records),
                "elapsed_s": time.perf_counter() - started,
                "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            }
            rows = table(records)
            out.with_suffix(".json").write_text(
                json.dumps({"meta": meta, "table": rows, "problems": records}, indent=2)
            )
            out.with_suffix(".md").write_text(markdown(rows, meta))
            print(f"{len(records)}/{len(problems)} done, {meta['elapsed_s']:.0f} s", flush=True)
    finally:
        engine.close()
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()

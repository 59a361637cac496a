"""AR-Sampling against its baselines (issue 8): accuracy, generated tokens, rethinks, goals, plot.

For each problem of --dataset (gsm8k: the first K of GSM8K's train split; finqa: K FinQA problems
in a seeded order, their page as context; tooluse: the tool-use suite's arithmetic dev questions;
see benchmarks/_ar_sampling_data.py) it runs, with each --prm:
  - greedy chain-of-thought (1 sample);
  - N_max whole solutions, scored by the PRM, then self-consistency, Best-of-N and PRM-weighted
    voting at every N <= N_max on the first N samples (the reference code subsamples the same way);
  - AR-Sampling with N_max paths, then its three selection rules at every N on the first N paths
    (paths are independent, so the first N are an honest run at N).
Greedy and the whole solutions are drawn once per problem, whatever the number of PRMs; AR runs
once per PRM (the PRM steers it). Every method's tokens are counted by the engine; answers are
scored by the dataset's own scorer (evals/scorers). Seeds are fixed per problem and shared by the
methods; no problem or seed is dropped. Data is read from HUIJIN_BENCHMARKS_DIR /
HUIJIN_MARKET_SNAPSHOT, never copied here.

Writes <out-dir>/ar_sampling_<dataset>_<prm>.json, .md (table, goals) and .png (accuracy vs
tokens) for each PRM, all rewritten after every finished problem. Resumable: rerun the same command
and the problems already in a PRM's JSON are skipped for it (a larger --num-problems extends a
run); other settings are refused unless --restart. --concurrency problems run at once against the
one engine, which batches their requests. The full run of the issue, 3 datasets x 2 PRMs (hours
each on 2 CPUs; Ctrl-C keeps what is finished, the same command resumes):

    for d in gsm8k finqa tooluse; do
      HUIJIN_CACHE_DIR=.cache/huijin HUIJIN_BENCHMARKS_DIR=../shared/data/benchmarks \\
      HUIJIN_MARKET_SNAPSHOT=../shared/data/market .venv/bin/python benchmarks/ar_sampling.py \\
        --dataset $d --prm verifier --prm judge --num-problems 200 --n-max 8
    done

--num-problems 200 takes every problem where there are fewer: FinQA's test file has 100, the
suite's arithmetic dev questions are 15. --prm judge is the LLM-judge PRM over the same engine
(the policy grades its own steps; its calls are counted apart from the policy's tokens). A smoke
run that never touches the committed results:

    .venv/bin/python benchmarks/ar_sampling.py --dataset finqa --num-problems 2 --n-max 2 \\
      --max-tokens 48 --out-dir /tmp/ar_smoke
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _ar_sampling_data import DATASETS, SCORERS, ProblemSet, load_problems, score_result
from _ar_sampling_report import reported_ns
from _ar_sampling_store import (
    check_same_problems,
    load_previous,
    output_stem,
    run_settings,
    write_results,
)
from rich.console import Console

from app.progress import LoggedProgress, progress_columns
from evals.example import Example
from evals.prompts import reasoning_inputs
from model.engine.types import ChatEngine, EngineError
from model.reasoning import (
    Method,
    ReasoningConfig,
    ReasoningResult,
    load_prm,
    reason,
    rescore,
    reselect,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ROWS = [
    ("greedy", Method.GREEDY, None),
    ("sc", Method.SC, None),
    ("bon", Method.BON, None),
    ("weighted", Method.WEIGHTED, None),
    ("ar-best", Method.AR, "best"),
    ("ar-weighted", Method.AR, "weighted"),
    ("ar-majority", Method.AR, "majority"),
]


class ProblemFailed(RuntimeError):
    """One problem raised: the run stops (no problem is silently dropped); the rest is saved."""


class Stopped(Exception):
    """Ctrl-C: the finished problems are saved; says how many."""

    def __init__(self, num_done: int, num_total: int) -> None:
        super().__init__(
            f"stopped; {num_done}/{num_total} problems done, rerun the same command to resume"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, default="gsm8k")
    parser.add_argument("--num-problems", type=int, default=200)
    parser.add_argument("--n-max", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument(
        "--prm",
        action="append",
        help="verifier (the default), judge or a PRM checkpoint; repeat to compare PRMs on the "
        "same greedy and whole-solution samples (drawn once, one result file per PRM)",
    )
    parser.add_argument("--p", type=float, default=0.4)
    parser.add_argument("--m", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=4, help="problems run at once")
    parser.add_argument("--restart", action="store_true", help="discard earlier results")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--data-dir", type=Path, default=None, help="HUIJIN_BENCHMARKS_DIR")
    parser.add_argument("--market-dir", type=Path, default=None, help="HUIJIN_MARKET_SNAPSHOT")
    args = parser.parse_args(argv)
    args.prm = list(dict.fromkeys(args.prm or ["verifier"]))
    for name in ("num_problems", "n_max", "max_tokens", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def run_problem(
    engine: ChatEngine,
    prms: dict[str, Any],
    example: Example,
    index: int,
    args: argparse.Namespace,
) -> dict[str, dict[str, Any]]:
    """Every method at every N on one problem, one record per PRM. Greedy and the N_max whole
    solutions are drawn once and scored by each PRM (the same samples, so the PRMs compare on
    them); AR-Sampling runs once per PRM, which steers it. The rest is re-selection."""
    base = ReasoningConfig(
        num_samples=args.n_max,
        max_tokens=args.max_tokens,
        threshold=args.p,
        max_rethinks=args.m,
        temperature=args.temperature,
        seed=args.seed + 1000 * index,
    )
    question, context = reasoning_inputs(example)
    greedy = reason(engine, question, config=base, context=context, method="greedy")
    samples = reason(engine, question, config=base, context=context, method="sc")
    records = {}
    for name, prm in prms.items():
        scored = rescore(samples, prm, context)
        ar = reason(engine, question, prm=prm, config=base, context=context, method="ar")
        record: dict[str, Any] = {"index": index, "id": example.id, "gold": example.gold}
        record["methods"] = {}
        for n in reported_ns(args.n_max):
            for row, method, selection in ROWS:
                if method is Method.GREEDY:
                    result = greedy
                elif method is Method.AR:
                    result = reselect(ar, method, n, selection)
                else:
                    result = reselect(scored, method, n)
                record["methods"][f"{row}@{n}"] = summarise(example, result, args.p)
        records[name] = record
    return records


def summarise(example: Example, result: ReasoningResult, threshold: float) -> dict[str, Any]:
    rethinks = [(s, r) for s in result.samples for r in s.rethinks]
    passed = sum(
        1
        for sample, r in rethinks
        if r.step_index + 1 < len(sample.steps)
        and (sample.steps[r.step_index + 1].score or 0.0) >= threshold
    )
    score = score_result(example, result)
    return {
        "answer": result.answer,
        "extracted": score.extracted,
        "is_correct": score.correct,
        "generated_tokens": result.usage.generated_tokens,
        "prompt_tokens": result.usage.prompt_tokens,
        "num_rethinks": len(rethinks),
        "num_rethinks_passed": passed,
    }


@dataclass
class _Run:
    """One PRM's result file: its settings, what it holds, and the PRM itself."""

    prm: Any
    stem: Path
    settings: dict[str, Any]
    records: dict[int, dict[str, Any]]
    earlier: dict[str, Any]


def run_benchmark(
    engine: ChatEngine,
    args: argparse.Namespace,
    device: str = "cpu",
    console: Console | None = None,
) -> list[Path]:
    """Run (or resume) the benchmark on `engine`; returns each PRM's markdown path. Raises
    Stopped on Ctrl-C and ValueError / FileNotFoundError for what the user must fix."""
    console = console or Console(stderr=True)
    chosen = load_problems(
        args.dataset, args.num_problems, args.seed, args.data_dir, args.market_dir
    )
    if not chosen.problems:
        raise ValueError(f"no {args.dataset} problems found in {chosen.source}")
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    runs: dict[str, _Run] = {}
    for name in args.prm:
        settings = run_settings(args, name, engine.model_id, chosen.split)
        stem = output_stem(args.out_dir, args.dataset, name)
        previous = load_previous(stem.with_suffix(".json"), settings, args.restart)
        records = {r["index"]: r for r in previous.get("problems", [])}
        check_same_problems(records, chosen.problems)
        prm = load_prm(name, engine=engine, device=device)
        runs[name] = _Run(prm, stem, settings, records, previous.get("meta", {}))
    todo = [
        i for i in range(len(chosen.problems)) if any(i not in r.records for r in runs.values())
    ]
    started = time.perf_counter()

    worked: set[str] = set()  # the PRMs that scored a problem in this invocation

    def save(run: _Run) -> None:
        meta = _meta(chosen, run.settings, args, run.stem, len(run.records))
        now = time.perf_counter() - started if run.settings["prm"] in worked else 0.0
        meta["elapsed_s"] = run.earlier.get("elapsed_s", 0.0) + now
        calls = (run.earlier.get("prm_calls") or 0) + getattr(run.prm, "num_judge_calls", 0)
        meta["prm_calls"] = calls or None
        meta["run_with"] = shared_samples(run, runs)
        write_results(run.stem, [run.records[i] for i in sorted(run.records)], meta)

    paths = [run.stem.with_suffix(".md") for run in runs.values()]
    if not todo:
        for run in runs.values():
            save(run)
        return paths
    first = next(iter(runs.values()))
    with LoggedProgress(*progress_columns(), console=console) as progress:
        task = progress.add_task(
            f"{args.dataset}/{'+'.join(args.prm)}",
            total=len(chosen.problems),
            completed=len(chosen.problems) - len(todo),
            accuracy=_running_accuracy(first.records, args.n_max),
        )
        num_saved = len(chosen.problems) - len(todo)

        def on_records(index: int, records: dict[str, dict[str, Any]]) -> None:
            nonlocal num_saved
            samples_id = uuid.uuid4().hex[:12]  # one draw of greedy + whole solutions
            for name, record in records.items():
                runs[name].records[index] = {**record, "samples_id": samples_id}
                worked.add(name)
            for name in records:  # after all are in: each file counts the samples it shares
                save(runs[name])
            num_saved += 1  # counted once every file has it: a Ctrl-C inside save() does not
            progress.update(task, advance=1, accuracy=_running_accuracy(first.records, args.n_max))

        def missing(index: int) -> dict[str, Any]:  # the PRMs this problem still lacks
            return {name: run.prm for name, run in runs.items() if index not in run.records}

        try:
            _solve(engine, missing, chosen.problems, todo, args, on_records)
        except KeyboardInterrupt:
            raise Stopped(num_saved, len(chosen.problems)) from None
    for run in runs.values():  # a PRM that drew nothing here: its shared-sample count may drop
        if run.settings["prm"] not in worked:
            save(run)
    return paths


def shared_samples(run: _Run, runs: dict[str, _Run]) -> dict[str, int]:
    """For each other PRM of this invocation, on how many problems its file scores the very
    greedy and whole-solution samples this file does (drawn once, in one process). A PRM that
    ran later on its own, e.g. after its file was lost, drew new samples and does not count."""
    shared = {}
    for name, other in runs.items():
        if other is run:
            continue
        count = sum(
            1
            for index, record in run.records.items()
            if record.get("samples_id")
            and record.get("samples_id") == other.records.get(index, {}).get("samples_id")
        )
        if count:
            shared[name] = count
    return shared


def _solve(
    engine: ChatEngine,
    prms: Callable[[int], dict[str, Any]],
    problems: list[Example],
    todo: list[int],
    args: argparse.Namespace,
    on_records: Callable[[int, dict[str, dict[str, Any]]], None],
) -> None:
    """Run the `todo` problems, --concurrency at a time; hand each problem's records over as it
    finishes (in finish order: the caller stores them by index)."""
    pool = ThreadPoolExecutor(max_workers=args.concurrency, thread_name_prefix="ar")
    try:
        futures = {pool.submit(run_problem, engine, prms(i), problems[i], i, args): i for i in todo}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = futures[future]
                try:
                    records = future.result()
                except Exception as exc:
                    raise ProblemFailed(
                        f"problem {index} ({problems[index].id}) failed: "
                        f"{type(exc).__name__}: {exc}; the finished problems are saved, rerun "
                        "to resume"
                    ) from exc
                on_records(index, records)
    finally:
        # In-flight problems cannot be interrupted mid-generation; start nothing new.
        pool.shutdown(wait=False, cancel_futures=True)


def _running_accuracy(records: dict[int, dict[str, Any]], n_max: int) -> str:
    """What the progress bar shows: AR (best) and Best-of-N at N_max so far."""
    if not records:
        return ""
    parts = []
    for name in ("ar-best", "bon"):
        key = f"{name}@{n_max}"
        num_correct = sum(r["methods"][key]["is_correct"] for r in records.values())
        parts.append(f"{key} {num_correct / len(records):.0%}")
    return ", ".join(parts)


def _meta(
    chosen: ProblemSet,
    settings: dict[str, Any],
    args: argparse.Namespace,
    stem: Path,
    num_done: int,
) -> dict[str, Any]:
    return {
        "settings": settings,
        "title": chosen.title,
        "source": chosen.source,
        "scorer": SCORERS[chosen.dataset],
        "num_problems_planned": max(len(chosen.problems), num_done),
        "num_problems_available": chosen.num_available,
        "num_problems_done": num_done,
        "concurrency": args.concurrency,
        "cpu_count": os.cpu_count(),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "plot": stem.with_suffix(".png").name,
    }


def main(argv: list[str] | None = None) -> int:
    from core.settings import load_settings
    from model.engine.factory import create_engine

    args = parse_args(argv)
    console = Console(stderr=True)
    try:
        settings = load_settings()
        args.data_dir = args.data_dir or settings.benchmarks_dir or SHARED_DATA / "benchmarks"
        args.market_dir = args.market_dir or settings.market_snapshot or SHARED_DATA / "market"
        engine = create_engine(settings)
        paths = run_benchmark(engine, args, device=settings.device, console=console)
    except (Stopped, ProblemFailed, EngineError, ValueError, FileNotFoundError) as exc:
        console.print(str(exc), highlight=False, soft_wrap=True, markup=False)
        # Worker threads still in a generation would hold the exit until they finish (minutes
        # on CPU); what they would return is not saved anyway, so leave without them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130 if isinstance(exc, Stopped) else 1)
    except KeyboardInterrupt:  # before any problem started: nothing to save
        console.print("stopped; rerun the same command to resume")
        return 130
    engine.close()
    for path in paths:
        print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The embedded model's eval table: every benchmark in agent and direct mode, and throughput.

    nice -n 19 .venv/bin/python benchmarks/eval_table.py                 # the whole table
    .venv/bin/python benchmarks/eval_table.py --limit 2 --no-throughput  # a smoke run
    .venv/bin/python benchmarks/eval_table.py --benchmarks gsm8k,tooluse --modes direct
    .venv/bin/python benchmarks/eval_table.py --report-only              # rebuild the table

Each cell (benchmark, split, mode) is one run of the real eval runner, the code behind `huijin
eval run`: a seeded sample of --limit examples (default 100) of the benchmark's dev split where it
has one, else the split named in the table with the reason; the tool-use suite runs its whole test
split. Throughput is measured on fixed slices (16 tool-use questions in agent mode, 16 GSM8K
problems in direct mode) at concurrency 1 and 8, one after the other on the same loaded model.

Resumable: --work-dir (default .cache/huijin/eval_table, git-ignored) holds the SQLite database
the runner stores every finished example in, and state.json mapping each cell to its run id. A
rerun resumes unfinished runs, skips finished ones and redoes nothing stored; a throughput run is
timed in one go, so an interrupted one is started again. Writes benchmarks/results/eval_table.json
(per cell: accuracy with its 95% interval, latency, tool errors, run id, engine, machine, date)
and eval_table.md (the table, with published scores for context).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _engine_speed_report import machine_info
from _eval_table_report import markdown, per_minute, published_json, remaining_estimate, summarize
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import Progress, TaskID

from app.cli_errors import print_user_error, user_error_types
from app.progress import LoggedProgress, progress_columns
from core.settings import Settings, load_settings
from evals.report import wilson_interval

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
RESULTS = BENCHMARKS_DIR / "results"
DEFAULT_WORK_DIR = REPO_ROOT / ".cache" / "huijin" / "eval_table"
DATABASE_NAME = "eval_table.db"
STATE_NAME = "state.json"

BENCHMARK_ORDER = ("finqa", "convfinqa", "tatqa", "financebench", "gsm8k", "math500", "tooluse")
# Plain-model modes first: they are quick and fill the table early.
MODES = ("direct", "cot", "agent")
DEFAULT_MODES = ("direct", "agent")
# The split each benchmark is measured on, and why when it is not a dev split (see
# ../shared/data/benchmarks/SOURCES.md for what was and was not obtained).
SPLITS: dict[str, tuple[str, str]] = {
    "finqa": (
        "test",
        "no dev split available: only a 100-question sample of the FinQA test set was obtained "
        "(the official train/dev/test files were not in the snapshot)",
    ),
    "convfinqa": ("dev", "a reformatted copy of the official dev set (the only split obtained)"),
    "tatqa": ("dev", ""),
    "financebench": (
        "test",
        "FinanceBench publishes only its 150-question open-source sample, which is test data",
    ),
    "gsm8k": (
        "test",
        "GSM8K has no dev split; its test split is where published scores are, and nothing in "
        "huijin is tuned on it",
    ),
    "math500": ("test", "MATH500 is itself a test subset (MATH train was not obtained)"),
    "tooluse": (
        "test",
        "the suite's whole held-back test split; prompt and tool work is tuned on dev only",
    ),
}
WHOLE_SPLIT = {"tooluse"}  # measured on every example of the split, whatever --limit says
THROUGHPUT_SLICES = (("tooluse", "agent"), ("gsm8k", "direct"))
THROUGHPUT_CONCURRENCY = (1, 8)

console = Console(stderr=True)


class StateError(ValueError):
    """The work dir's state file cannot be used; the message says what to do."""


# -- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One run: a benchmark's split in one mode, over `limit` examples (None: all of them)."""

    benchmark: str
    split: str
    mode: str
    limit: int | None
    note: str = ""
    # Throughput cells are timed at a fixed concurrency; accuracy cells run at --concurrency.
    concurrency: int | None = None

    @property
    def key(self) -> str:
        size = "all" if self.limit is None else f"n{self.limit}"
        base = f"{self.benchmark}/{self.split}/{self.mode}/{size}"
        return base if self.concurrency is None else f"{base}/c{self.concurrency}"


def parse_list(text: str, known: tuple[str, ...], what: str) -> list[str]:
    """A comma-separated choice, in the canonical order; unknown names fail with the list."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    if not names:
        raise ValueError(f"give at least one {what} (known: {', '.join(known)})")
    return [name for name in known if name in names]


def parse_splits(pairs: list[str]) -> dict[str, str]:
    """--split BENCHMARK=SPLIT overrides, e.g. gsm8k=train."""
    splits = {}
    for pair in pairs:
        benchmark, sep, split = pair.partition("=")
        if not sep or not benchmark.strip() or not split.strip():
            raise ValueError(f"--split takes BENCHMARK=SPLIT (got {pair!r})")
        parse_list(benchmark, BENCHMARK_ORDER, "benchmark")
        splits[benchmark.strip()] = split.strip()
    return splits


def split_for(benchmark: str, overrides: dict[str, str]) -> tuple[str, str]:
    default, note = SPLITS[benchmark]
    if benchmark in overrides and overrides[benchmark] != default:
        return overrides[benchmark], "chosen with --split"
    return default, note


def plan_cells(
    benchmarks: list[str], modes: list[str], limit: int, splits: dict[str, str] | None = None
) -> list[Cell]:
    """Every (benchmark, mode) cell to measure, benchmarks in table order, direct mode first."""
    if limit < 1:
        raise ValueError("--limit must be at least 1")
    cells = []
    for benchmark in benchmarks:
        split, note = split_for(benchmark, splits or {})
        size = None if benchmark in WHOLE_SPLIT else limit
        cells += [Cell(benchmark, split, mode, size, note) for mode in modes]
    return cells


def plan_throughput(n: int, splits: dict[str, str] | None = None) -> list[Cell]:
    """The same small slices at each concurrency, side by side."""
    if n < 1:
        raise ValueError("--throughput-n must be at least 1")
    return [
        Cell(benchmark, split_for(benchmark, splits or {})[0], mode, n, concurrency=level)
        for benchmark, mode in THROUGHPUT_SLICES
        for level in THROUGHPUT_CONCURRENCY
    ]


# -- the resume state -----------------------------------------------------------------------------


class CellState(BaseModel):
    run_id: str
    # Wall clock spent solving in this script, and the examples finished meanwhile (summed over
    # sessions): the cell's real time per example, concurrency included.
    wall_s: float = 0.0
    timed_examples: int = 0
    finished: bool = False
    engine: dict[str, Any] = {}
    machine: dict[str, Any] = {}


class TableState(BaseModel):
    """state.json: what the work dir's runs were made with, and each cell's run."""

    version: int = 1
    fingerprint: dict[str, str]
    cells: dict[str, CellState] = {}
    throughput: dict[str, CellState] = {}

    @classmethod
    def load(cls, path: Path, fingerprint: dict[str, str]) -> TableState:
        if not path.exists():
            return cls(fingerprint=fingerprint)
        try:
            state = cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise StateError(f"cannot read {path} ({first}); move it away to start over") from None
        if state.fingerprint != fingerprint:
            changed = sorted(
                key
                for key in fingerprint.keys() | state.fingerprint.keys()
                if fingerprint.get(key) != state.fingerprint.get(key)
            )
            raise StateError(
                f"the runs in {path.parent} were made with other settings ("
                + ", ".join(
                    f"{k}: {state.fingerprint.get(k)!r} there, {fingerprint.get(k)!r} now"
                    for k in changed
                )
                + "); pass another --work-dir"
            )
        return state

    def save(self, path: Path) -> None:
        """Write-then-rename, so a kill mid-write never leaves half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)


def fingerprint_of(settings: Settings, args: argparse.Namespace) -> dict[str, str]:
    """What changes the answers: a work dir's runs are only compared under the same values."""
    return {
        "model": settings.model,
        "backend": settings.backend.value,
        "openai_model": str(settings.openai_model or ""),
        "kv_cache": settings.kv_cache,
        "temperature": str(settings.temperature),
        "agent_answer": settings.agent_answer,
        "agent_max_steps": str(settings.agent_max_steps),
        "max_new_tokens": str(args.max_new_tokens),
        "seed": str(args.seed),
        "judge": str(args.judge),
    }


# -- running ----------------------------------------------------------------------------------------


@dataclass
class Bench:
    """The work dir's database and state, the engine (loaded on first need) and the progress."""

    settings: Settings
    args: argparse.Namespace
    state: TableState
    state_path: Path
    progress: Progress
    database: Any = None  # core.db.session.Database
    _engine: Any = None
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self) -> Any:  # model.engine.types.ChatEngine
        if self._engine is None:
            from model.engine.factory import create_engine
            from model.engine.types import SamplingParams

            console.print(f"loading the model ({self.settings.model}) ...")
            self._engine = create_engine(self.settings)
            # One short reply first, so no timing below pays for first-call set-up.
            self._engine.chat(
                [{"role": "user", "content": "Say OK."}], params=SamplingParams(max_new_tokens=4)
            )
        return self._engine

    def engine_info(self) -> dict[str, Any]:
        return _jsonable(asdict(self.engine.info())) if self._engine is not None else {}

    def store(self) -> Any:  # evals.store.EvalStore
        from evals.store import EvalStore

        return EvalStore(self.database)

    @contextmanager
    def session(self) -> Iterator[Any]:  # evals.api.EvalSession
        """A fresh session per cell over the shared engine and database: the session keeps one
        agent for its first run's data (the tool-use suite reads its own snapshot)."""
        from evals.api import EvalSession

        with EvalSession(self.settings, engine=self.engine, database=self.database) as evals:
            yield evals

    def save(self) -> None:
        self.state.save(self.state_path)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        if self.database is not None:
            self.database.close()


def eval_config(bench: Bench, cell: Cell) -> Any:  # evals.runner.EvalConfig
    """The config `huijin eval run` builds for the same options."""
    from evals.api import resolve_data
    from evals.runner import EvalConfig

    settings = bench.settings
    path, split = resolve_data(settings, cell.benchmark, cell.split, None)
    return EvalConfig(
        benchmark=cell.benchmark,
        data=str(path),
        split=split,
        mode=cell.mode,
        limit=cell.limit,
        concurrency=cell.concurrency or bench.args.concurrency,
        seed=bench.args.seed,
        max_new_tokens=bench.args.max_new_tokens,
        judge=bench.args.judge,
        model=settings.model
        if settings.backend.value == "transformers"
        else (settings.openai_model or settings.openai_base_url),
        backend=settings.backend.value,
        temperature=settings.temperature,
    )


def existing_run(bench: Bench, entry: CellState | None) -> Any:  # RunSummary | None
    """The cell's stored run, or None when it has none (or the database lost it)."""
    from evals.store import RunNotFound

    if entry is None:
        return None
    try:
        return bench.store().run(entry.run_id)
    except RunNotFound:
        console.print(f"[yellow]run {entry.run_id} is not in the database any more; starting anew")
        return None


def run_cell(bench: Bench, cell: Cell) -> None:
    """Start the cell's run or resume it; nothing stored is solved again."""
    entry = bench.state.cells.get(cell.key)
    summary = existing_run(bench, entry)
    if entry is not None and summary is not None and summary.num_done >= summary.num_examples:
        _finished_bar(bench, cell, summary)
        if not entry.finished:  # finished by `huijin eval run --resume`, say
            entry.finished = True
            bench.save()
        return
    with bench.session() as evals:
        if entry is None or summary is None:
            run_id = evals.start(eval_config(bench, cell), name=f"eval_table {cell.key}")
            entry = bench.state.cells[cell.key] = CellState(run_id=run_id)
            bench.save()
            summary = evals.run(run_id)
        else:
            console.print(
                f"resuming {cell.key}: run {summary.id[:12]}, "
                f"{summary.num_done}/{summary.num_examples} done"
            )
        timed = Pass()
        try:
            _execute(bench, evals, cell, summary, timed)
            entry.finished = True
        finally:
            # An interrupted pass counts too: its time per example is as real.
            entry.wall_s += timed.wall_s
            entry.timed_examples += timed.examples
            entry.engine, entry.machine = bench.engine_info(), bench.machine
            bench.save()


def run_throughput(bench: Bench, cell: Cell) -> None:
    """One uninterrupted run of the slice at the cell's concurrency, timed by the wall clock."""
    entry = bench.state.throughput.get(cell.key)
    if entry is not None and entry.finished:
        _finished_bar(bench, cell, existing_run(bench, entry))
        return
    # Loaded (and warmed up) before any clock starts; the slice's prompts, already prefilled at
    # the other concurrency, must not be served from the prefix cache.
    forget = getattr(bench.engine, "forget_prefixes", None)
    if forget is not None:
        forget()
    with bench.session() as evals:
        run_id = evals.start(eval_config(bench, cell), name=f"eval_table throughput {cell.key}")
        entry = bench.state.throughput[cell.key] = CellState(run_id=run_id)
        bench.save()
        timed = Pass()
        _execute(bench, evals, cell, evals.run(run_id), timed)
    entry.wall_s, entry.timed_examples, entry.finished = timed.wall_s, timed.examples, True
    entry.engine, entry.machine = bench.engine_info(), bench.machine
    bench.save()


@dataclass
class Pass:
    """One call of the runner: its wall clock and the examples it stored."""

    wall_s: float = 0.0
    examples: int = 0


def _label(cell: Cell) -> str:
    size = "all" if cell.limit is None else str(cell.limit)
    label = f"{cell.benchmark}/{cell.split} {cell.mode} ({size})"
    return label if cell.concurrency is None else f"throughput {label} c={cell.concurrency}"


def _finished_bar(bench: Bench, cell: Cell, summary: Any) -> None:
    total = summary.num_examples if summary is not None else 1
    done = summary.num_done if summary is not None else 1
    correct = summary.num_correct if summary is not None else 0
    bench.progress.add_task(
        _label(cell), total=total, completed=done, accuracy=_accuracy_text(correct, done, 0)
    )


def _accuracy_text(correct: int, done: int, errors: int) -> str:
    if not done:
        return "accuracy -"
    low, high = wilson_interval(correct, done)
    text = f"accuracy {correct / done:.1%} [{low:.0%}, {high:.0%}]"
    return text + (f", {errors} errors" if errors else "")


def _execute(bench: Bench, evals: Any, cell: Cell, summary: Any, timed: Pass) -> None:
    """The runner with a progress bar and running accuracy; `timed` gets its wall clock and the
    examples stored meanwhile (counted in the store: those in flight at a Ctrl-C finish too)."""
    tally = {"done": summary.num_done, "correct": summary.num_correct, "errors": 0}
    task: TaskID = bench.progress.add_task(
        _label(cell),
        total=summary.num_examples,
        completed=summary.num_done,
        accuracy=_accuracy_text(tally["correct"], tally["done"], 0),
    )

    def on_result(finished: Any) -> None:
        tally["done"] += 1
        tally["correct"] += int(finished.correct)
        tally["errors"] += int(bool(finished.error))
        text = _accuracy_text(tally["correct"], tally["done"], tally["errors"])
        bench.progress.update(task, advance=1, accuracy=text)

    started = time.perf_counter()
    try:
        evals.execute(summary.id, on_result=on_result)
    finally:
        timed.wall_s = time.perf_counter() - started
        timed.examples = evals.run(summary.id).num_done - summary.num_done


# -- the report -------------------------------------------------------------------------------------


def cell_report(bench: Bench, cell: Cell, entry: CellState | None) -> dict[str, Any]:
    summary = existing_run(bench, entry)
    rows = bench.store().results(summary.id) if summary is not None else []
    planned = summary.num_examples if summary is not None else (cell.limit or 0)
    stamps = [r.created_at for r in rows if r.created_at is not None]
    report = {
        "benchmark": cell.benchmark,
        "split": cell.split,
        "split_note": cell.note,
        "mode": cell.mode,
        "n_planned": planned,
        **summarize(rows),
        "run_id": summary.id if summary is not None else None,
        "concurrency": summary.config.get("concurrency") if summary is not None else None,
        "started": summary.created_at.isoformat(timespec="seconds") if summary else None,
        "last_result": max(stamps).isoformat(timespec="seconds") if stamps else None,
        "wall_s": round(entry.wall_s, 1) if entry else None,
        "wall_s_per_example": (
            round(entry.wall_s / entry.timed_examples, 2)
            if entry and entry.timed_examples
            else None
        ),
        "engine": entry.engine if entry else {},
        "machine": entry.machine if entry else {},
    }
    return report


def throughput_report(bench: Bench, cell: Cell, entry: CellState | None) -> dict[str, Any] | None:
    if entry is None or not entry.finished:
        return None
    summary = existing_run(bench, entry)
    rows = bench.store().results(entry.run_id) if summary is not None else []
    return {
        "benchmark": cell.benchmark,
        "split": cell.split,
        "mode": cell.mode,
        "n": cell.limit,
        "concurrency": cell.concurrency,
        "examples_timed": entry.timed_examples,
        "wall_s": round(entry.wall_s, 1),
        "examples_per_min": per_minute(entry.timed_examples, entry.wall_s),
        "accuracy": summarize(rows)["accuracy"] if rows else None,
        "run_id": entry.run_id,
        "engine": entry.engine,
        "machine": entry.machine,
    }


def build_report(bench: Bench, cells: list[Cell], throughput: list[Cell]) -> dict[str, Any]:
    cell_rows = [cell_report(bench, c, bench.state.cells.get(c.key)) for c in cells]
    speed_rows = [
        throughput_report(bench, c, bench.state.throughput.get(c.key)) for c in throughput
    ]
    # Without a model loaded now (--report-only, or all done), describe the one the runs used.
    engine = bench.engine_info() or next((c["engine"] for c in cell_rows if c["engine"]), {})
    machine = bench.machine
    if not bench.engine_info():
        machine = next((c["machine"] for c in cell_rows if c["machine"]), machine)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # The command that measures this table (--report-only only rewrites it).
        "command": shlex.join(
            ["python", "benchmarks/eval_table.py"]
            + [arg for arg in sys.argv[1:] if arg != "--report-only"]
        ),
        "limit": bench.args.limit,
        "settings": {
            **bench.state.fingerprint,
            # What the runs used (stored with each run), not this invocation's flag.
            "concurrency": ", ".join(
                sorted({str(c["concurrency"]) for c in cell_rows if c["concurrency"]})
                or [str(bench.args.concurrency)]
            ),
            "agent_max_tools_in_prompt": str(bench.settings.agent_max_tools_in_prompt),
            "agent_max_new_tokens": str(bench.settings.agent_max_new_tokens),
            "agent_constrained": str(bench.settings.agent_constrained),
            "agent_on_unsupported": bench.settings.agent_on_unsupported,
        },
        "engine": engine,
        "machine": machine,
        "machine_summary": (
            f"{machine.get('cpu_model', '?')}, {machine.get('num_cores', '?')} cores, "
            f"torch threads {machine.get('num_threads', '?')}, load average at start "
            f"{machine.get('load_average_1min_at_start', 0):.2f}"
        ),
        "cells": cell_rows,
        "throughput": [row for row in speed_rows if row is not None],
        "remaining": remaining_estimate(cell_rows),
        "published": published_json(),
    }


def write_report(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# -- the command ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--benchmarks", default=",".join(BENCHMARK_ORDER), help="comma-separated")
    parser.add_argument(
        "--modes", default=",".join(DEFAULT_MODES), help="comma-separated: direct, cot, agent"
    )
    parser.add_argument(
        "--limit", type=int, default=100, help="examples a cell (the tool-use suite: all of test)"
    )
    parser.add_argument(
        "--split",
        action="append",
        default=[],
        metavar="BENCHMARK=SPLIT",
        help="measure a benchmark on another split (repeatable), e.g. gsm8k=train",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="examples solved at once in the accuracy cells (a resumed run keeps its own)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sample and sampling seed")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="cap per plain reply")
    parser.add_argument(
        "--judge", action="store_true", help="score free-text answers with the model as judge"
    )
    parser.add_argument("--throughput-n", type=int, default=16, help="examples a throughput slice")
    parser.add_argument(
        "--no-throughput", action="store_true", help="skip the concurrency 1 vs 8 measurement"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="runs and state")
    parser.add_argument("--out", type=Path, default=RESULTS / "eval_table.json", help="JSON out")
    parser.add_argument(
        "--report-only", action="store_true", help="write the table from stored runs, run nothing"
    )
    return parser.parse_args(argv)


def make_settings(work_dir: Path) -> Settings:
    """The user's settings with the work dir's database, offline market data, and the shared
    data next to this checkout when no path is set."""
    settings = load_settings(
        data_dir=work_dir,
        database_url=f"sqlite:///{work_dir / DATABASE_NAME}",
        market_live=False,
    )
    updates: dict[str, Path] = {}
    if settings.benchmarks_dir is None and (SHARED_DATA / "benchmarks").is_dir():
        updates["benchmarks_dir"] = SHARED_DATA / "benchmarks"
    if settings.market_snapshot is None and (SHARED_DATA / "market").is_dir():
        updates["market_snapshot"] = SHARED_DATA / "market"
    return settings.model_copy(update=updates)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.db.session import open_database

    if args.concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    splits = parse_splits(args.split)
    cells = plan_cells(
        parse_list(args.benchmarks, BENCHMARK_ORDER, "benchmark"),
        parse_list(args.modes, MODES, "mode"),
        args.limit,
        splits,
    )
    throughput = [] if args.no_throughput else plan_throughput(args.throughput_n, splits)
    work_dir = args.work_dir.expanduser().resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    settings = make_settings(work_dir)
    state_path = work_dir / STATE_NAME
    state = TableState.load(state_path, fingerprint_of(settings, args))
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    columns = progress_columns()
    progress = LoggedProgress(*columns, console=console)
    bench = Bench(settings, args, state, state_path, progress)
    bench.machine = {**machine_info(torch.get_num_threads()), "device": settings.device}
    bench.database = open_database(settings.resolved_database_url())
    try:
        if not args.report_only:
            with progress:
                for cell in cells:
                    run_cell(bench, cell)
                for cell in throughput:
                    run_throughput(bench, cell)
        report = build_report(bench, cells, throughput)
    finally:
        bench.close()
    write_report(report, args.out)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except KeyboardInterrupt:
        console.print(
            "interrupted; every finished example is stored: rerun the same command to resume"
        )
        return 130
    except user_error_types() as exc:
        print_user_error(exc, console)
        return 1
    print(markdown(report))
    console.print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

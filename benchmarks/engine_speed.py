"""Our transformers engine against llama.cpp on the same GGUF (SmolLM2-135M-Instruct Q4_1), on CPU.

    .venv/bin/python benchmarks/engine_speed.py                  # full run, both backends
    .venv/bin/python benchmarks/engine_speed.py --quick          # smoke run
    .venv/bin/python benchmarks/engine_speed.py --variant fast:KEY=VALUE   # add an engine config

Each backend (and each configuration of our engine) runs in two fresh processes: one loads the
model into an empty cache dir (first load, GGUF -> safetensors conversion included) and one loads
again from that cache and measures generation, so load times and peak RSS belong to one backend.
Writes engine_speed.json (raw numbers, machine info) and engine_speed.md (table and goal checks).
llama.cpp needs the `bench` extra: pip install -e '.[bench]' (it compiles llama.cpp).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _engine_speed_report import LLAMACPP, goals_for, machine_info, markdown
from _engine_speed_workload import Workload, find_gguf
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from app.progress import LoggedProgress

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
TRANSFORMERS = "transformers"

console = Console()


@dataclass(frozen=True)
class Target:
    """One column of the report: a backend, and for our engine a named config override."""

    name: str
    backend: str
    engine_config: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="32 new tokens, 1 repeat, batch 1 and 4"
    )
    parser.add_argument("--backends", default=f"{TRANSFORMERS},{LLAMACPP}", help="comma-separated")
    parser.add_argument("--out", type=Path, default=BENCHMARKS_DIR / "results", help="output dir")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="for both backends"
    )
    parser.add_argument("--max-new-tokens", type=int, help="override the workload's 128 (32 quick)")
    parser.add_argument("--repeats", type=int, help="timed repeats (median reported)")
    parser.add_argument("--batch-sizes", help="comma-separated, e.g. 1,4,8,16")
    parser.add_argument(
        "--engine-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="TransformersEngine config field for every variant of our engine (repeatable)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="also measure our engine with these config fields, as column transformers[NAME]",
    )
    return parser.parse_args(argv)


def _parse_pairs(text: str, flag: str) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {item!r}")
        try:  # true, 4, 0.5, "x" -> JSON types; anything else stays a string
            pairs[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            pairs[key.strip()] = raw
    return pairs


def build_targets(args: argparse.Namespace) -> list[Target]:
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - {TRANSFORMERS, LLAMACPP}
    if unknown:
        raise SystemExit(f"unknown backend {sorted(unknown)}: use {TRANSFORMERS} and/or {LLAMACPP}")
    targets = []
    if LLAMACPP in backends:
        if importlib.util.find_spec("llama_cpp") is None:
            console.print("llama_cpp is not importable (pip install -e '.[bench]'); measuring our engine alone.")  # fmt: skip
        else:
            targets.append(Target(LLAMACPP, LLAMACPP))
    if TRANSFORMERS in backends:
        shared = {}
        for pair in args.engine_config:
            shared |= _parse_pairs(pair, "--engine-config")
        targets.append(Target(TRANSFORMERS, TRANSFORMERS, shared))
        for variant in args.variant:
            name, sep, pairs = variant.partition(":")
            if not sep or not name:
                raise SystemExit(f"--variant expects NAME:KEY=VALUE[,...], got {variant!r}")
            config = shared | _parse_pairs(pairs, "--variant")
            targets.append(Target(f"{TRANSFORMERS}[{name}]", TRANSFORMERS, config))
    if targets[0].backend == LLAMACPP and len(targets) > 1:
        # Measure the reference again at the end: on a shared machine its speed drifts with load,
        # and the goals are judged against the faster of the two runs.
        targets.append(Target(f"{LLAMACPP}[end]", LLAMACPP))
    if not targets:
        raise SystemExit("nothing to measure")
    return targets


def build_workload(args: argparse.Namespace) -> Workload:
    base = Workload.quick() if args.quick else Workload()
    overrides: dict[str, Any] = {}
    if args.max_new_tokens is not None:
        overrides["max_new_tokens"] = args.max_new_tokens
    if args.repeats is not None:
        overrides["num_repeats"] = args.repeats
    if args.batch_sizes:
        overrides["batch_sizes"] = tuple(int(b) for b in args.batch_sizes.split(","))
    return Workload(**{**base.as_dict(), **overrides})


def run_worker(spec: dict[str, Any], progress: Progress, task_id: Any) -> dict[str, Any]:
    """Run one phase of one target in a fresh interpreter; advance the bar on its PROGRESS lines."""
    with tempfile.TemporaryDirectory(prefix="engine_speed_") as tmp:
        spec_path, result_path, log_path = (
            Path(tmp) / n for n in ("spec.json", "result.json", "log")
        )
        spec_path.write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(BENCHMARKS_DIR)])}
        command = [sys.executable, str(BENCHMARKS_DIR / "_engine_speed_worker.py")]
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                [*command, str(spec_path), str(result_path)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                cwd=REPO_ROOT,
            )
            assert worker.stdout is not None
            for line in worker.stdout:
                if line.startswith("PROGRESS "):
                    step = line.removeprefix("PROGRESS ").strip()
                    progress.update(task_id, advance=1, description=f"{spec['name']}: {step}")
                    if not console.is_terminal:  # no live bar in a log file: one line a step
                        console.log(f"{spec['name']} ({spec['phase']}): {step}")
            worker.wait()
        if worker.returncode != 0 or not result_path.exists():
            tail = log_path.read_text()[-3000:]
            return {"error": f"worker exited with {worker.returncode}", "stderr_tail": tail}
        return json.loads(result_path.read_text())


def measure(target: Target, common: dict[str, Any], progress: Progress) -> dict[str, Any]:
    num_batch_steps = (
        len(common["workload"]["batch_sizes"]) if target.backend == TRANSFORMERS else 0
    )
    num_steps = 1 + 4 + num_batch_steps  # load phase: load; run: load, warm-up, TTFT, decode
    task_id = progress.add_task(target.name, total=num_steps)
    cache_dir = tempfile.mkdtemp(prefix="engine_speed_cache_")  # fresh: first load converts
    spec = {
        **common,
        "name": target.name,
        "backend": target.backend,
        "engine_config": target.engine_config,
        "cache_dir": cache_dir,
    }
    try:
        result = {"backend": target.backend, "engine_config": target.engine_config}
        result["load_first"] = run_worker({**spec, "phase": "load"}, progress, task_id)
        if "error" not in result["load_first"]:
            result["run"] = run_worker({**spec, "phase": "run"}, progress, task_id)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    failed = next((r for r in result.values() if isinstance(r, dict) and "error" in r), None)
    status = "[red]failed[/red]" if failed else "done"
    progress.update(task_id, completed=num_steps, description=f"{target.name}: {status}")
    if failed:
        console.print(
            f"[red]{target.name} failed[/red]: {failed['error']}\n{failed['stderr_tail']}"
        )
    return result


def _decode_tps(result: dict[str, Any]) -> float:
    return result["run"]["decode"]["decode_tokens_per_s"]["median"]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    targets, workload, gguf_path = build_targets(args), build_workload(args), find_gguf()
    common = {
        "gguf_path": str(gguf_path),
        "num_threads": args.threads,
        "workload": workload.as_dict(),
    }
    report: dict[str, Any] = {
        "machine": machine_info(args.threads),
        "gguf": gguf_path.name,
        "workload": workload.as_dict(),
        "backends": {},
    }
    columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
    with LoggedProgress(*columns, console=console) as progress:
        for target in targets:
            report["backends"][target.name] = measure(target, common, progress)
    report["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]

    ok = {name: data for name, data in report["backends"].items() if "run" in data and "error" not in data["run"]}  # fmt: skip
    references = [name for name, data in ok.items() if data["backend"] == LLAMACPP]
    report["reference"] = max(references, key=lambda name: _decode_tps(ok[name]), default=None)
    reference = ok[report["reference"]] if report["reference"] else None
    report["goals"] = {
        name: [goal.as_dict() for goal in goals_for(data, reference)]
        for name, data in ok.items()
        if data["backend"] != LLAMACPP
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "engine_speed.json").write_text(json.dumps(report, indent=2))
    summary = markdown({**report, "backends": ok})
    (args.out / "engine_speed.md").write_text(summary)
    console.print(Markdown(summary))
    console.print(f"wrote {args.out / 'engine_speed.json'} and {args.out / 'engine_speed.md'}")


if __name__ == "__main__":
    main()

"""Where benchmarks/ar_sampling.py keeps a run, and how a run resumes.

One JSON a (dataset, PRM): the settings that make records comparable, every finished problem's
record, and the table and goals over them; beside it the markdown and the plot. All three are
rewritten whole after each problem through a temporary file and a rename, so an interrupt leaves
the last complete version, never half of one.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from _ar_sampling_report import goals, markdown, plot_png, reported_ns, table

from evals.example import Example


def run_settings(args: argparse.Namespace, prm: str, model_id: str, split: str) -> dict[str, Any]:
    """What makes two runs' records comparable; a resumed run must match it exactly."""
    return {
        "dataset": args.dataset,
        "split": split,
        "prm": prm,
        "p": args.p,
        "m": args.m,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "n_max": args.n_max,
        "seed": args.seed,
        "model": model_id,
    }


def output_stem(out_dir: Path, dataset: str, prm: str) -> Path:
    name = prm if prm in ("verifier", "judge") else Path(prm).name
    return Path(out_dir) / f"ar_sampling_{dataset}_{name.replace(':', '-').replace(',', '_')}"


def load_previous(path: Path, settings: dict[str, Any], restart: bool) -> dict[str, Any]:
    """The earlier run's records and cost to resume from; {} when starting afresh."""
    if restart or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        earlier = data["meta"]["settings"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(
            f"{path} is not a result file of this script; pass --restart to overwrite it"
        ) from None
    if earlier != settings:
        changed = ", ".join(
            f"{k} {earlier.get(k)!r} -> {settings.get(k)!r}"
            for k in sorted(set(earlier) | set(settings))
            if earlier.get(k) != settings.get(k)
        )
        raise ValueError(
            f"{path} holds a run with other settings ({changed}); pass --restart to start over"
        )
    return data


def write_results(stem: Path, records: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """JSON, markdown and plot; each replaced atomically, so an interrupt never leaves half."""
    rows = table(records)
    goal_rows = goals(rows, reported_ns(meta["settings"]["n_max"]))
    if rows:
        plot_png(rows, meta["title"], stem.with_suffix(".png"))
    data = {"meta": meta, "table": rows, "goals": goal_rows, "problems": records}
    _write_atomic(stem.with_suffix(".json"), json.dumps(data, indent=1))
    _write_atomic(stem.with_suffix(".md"), markdown(rows, goal_rows, meta))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when interrupted before the rename


def check_same_problems(records: dict[int, dict[str, Any]], problems: list[Example]) -> None:
    for index, record in records.items():
        if index < len(problems) and record["id"] != problems[index].id:
            raise ValueError(
                f"stored problem {index} is {record['id']!r} but the data now gives "
                f"{problems[index].id!r}; the data changed, pass --restart to start over"
            )

"""The agentic-RL loop: collect -> train -> evaluate -> keep the best, K times.

    result = run_loop(database, rollouts, Path("out/loop"), iterations=3, config=TrainConfig(),
                      start_dir=base_or_sft_dir, weights=weights)
    # HUIJIN_MODEL=out/loop/best serves the best model found

Iteration k collects G episodes per training question with the best model so far, trains it with
GRPO on them (out/iter-k), and scores the result on the evaluation split; a model that beats the
best score becomes the best (its checkpoint files are copied to out/best; see `beats`). Each
iteration starts from the best model, not the last one, so one bad update is not built upon.

Where the episodes come from is injected (`Rollouts`; evals/rollouts.py runs the eval runner), so
this module knows nothing about agents or benchmarks. `loop.json` records every stage as it
finishes, and a rerun with `resume=True` skips finished stages and resumes the unfinished one
(a collect or evaluation run redoes no finished episode; training resumes from its last
checkpoint).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.db.session import Database
from model.training.api import TrainingError, TrainResult, train
from model.training.config import TrainConfig
from model.training.dataset import TrainingDataError
from model.training.rewards import RewardWeights

LOOP_FILE = "loop.json"
BEST_DIR = "best"
# What makes a directory loadable with HUIJIN_MODEL (copied to out/best).
_MODEL_FILES = ("*.json", "*.safetensors", "*.jinja", "*.txt", "*.model")


class Score(Protocol):
    run_id: str
    pass_rate: float

    def to_dict(self) -> dict[str, Any]: ...


class Rollouts(Protocol):
    def start_collect(self, model_dir: Path | None) -> str: ...

    def run_collect(self, model_dir: Path | None, run_id: str) -> Score: ...

    def start_evaluation(self, model_dir: Path | None) -> str: ...

    def run_evaluation(self, model_dir: Path | None, run_id: str) -> Score: ...


@dataclass
class LoopResult:
    out_dir: Path
    best_dir: Path | None  # None: no iteration beat the starting model
    history: list[dict[str, Any]] = field(default_factory=list)


def run_loop(
    database: Database,
    rollouts: Rollouts,
    out_dir: Path,
    iterations: int,
    config: TrainConfig,
    start_dir: Path | None,
    weights: RewardWeights,
    *,
    resume: bool = False,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    on_train_step: Callable[[Any, int], None] | None = None,
) -> LoopResult:
    """`iterations` rounds from `start_dir` (None: the configured model); see the module doc."""
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    if config.objective != "rl":
        raise ValueError("the loop trains with objective rl")
    state = _load_state(out_dir, resume)
    emit = on_event or (lambda _kind, _info: None)

    base = state.setdefault("base", {"model_dir": str(start_dir) if start_dir else None})
    if "score" not in base:
        emit("evaluate", {"iteration": 0})
        base["score"] = _evaluate(rollouts, base, start_dir, out_dir, state)
        _save_state(out_dir, state)
    emit("scored", {"iteration": 0, **base["score"]})
    best = state.setdefault(
        "best", {"iteration": 0, "model_dir": base["model_dir"], **base["score"]}
    )
    history: list[dict[str, Any]] = state.setdefault("iterations", [])
    for number in range(1, iterations + 1):
        entry = history[number - 1] if len(history) >= number else _new_entry(history, number)
        if entry.get("score") is not None:
            continue
        model_dir = Path(best["model_dir"]) if best["model_dir"] else None
        if "collect_run_id" not in entry:
            entry["collect_run_id"] = rollouts.start_collect(model_dir)
            entry["from_iteration"] = best["iteration"]
            _save_state(out_dir, state)
        emit("collect", {"iteration": number, "run_id": entry["collect_run_id"]})
        entry["collect"] = rollouts.run_collect(model_dir, entry["collect_run_id"]).to_dict()
        _save_state(out_dir, state)
        iteration_dir = out_dir / f"iter-{number:02d}"
        emit("train", {"iteration": number, "out_dir": str(iteration_dir)})
        try:
            result = _train_iteration(
                database, entry, iteration_dir, config, model_dir, weights, on_train_step
            )
        except TrainingDataError as exc:
            # e.g. every group's episodes scored alike: no update this round, the best stays.
            entry.update(train={"skipped": str(exc)}, score={}, is_best=False)
            _save_state(out_dir, state)
            emit("skipped", {"iteration": number, "reason": str(exc)})
            continue
        entry["train"] = {"steps": result.steps, "data": result.data, "plot": str(result.plot)}
        entry["model_dir"] = str(iteration_dir)
        emit("evaluate", {"iteration": number})
        entry["score"] = _evaluate(rollouts, entry, iteration_dir, out_dir, state)
        if beats(entry["score"], best):
            best = state["best"] = {"iteration": number, **entry, **entry["score"]}
            _copy_model(iteration_dir, out_dir / BEST_DIR)
        entry["is_best"] = best["iteration"] == number
        _save_state(out_dir, state)
        emit("scored", {"iteration": number, **entry["score"], "is_best": entry["is_best"]})
    best_dir = out_dir / BEST_DIR if state["best"]["iteration"] > 0 else None
    return LoopResult(out_dir=out_dir, best_dir=best_dir, history=[base, *history])


def _train_iteration(
    database: Database,
    entry: dict[str, Any],
    iteration_dir: Path,
    config: TrainConfig,
    model_dir: Path | None,
    weights: RewardWeights,
    on_step: Callable[[Any, int], None] | None,
) -> TrainResult:
    from model.training.api import MANIFEST

    resume = (iteration_dir / MANIFEST).is_file()
    return train(
        database,
        None if resume else entry["collect_run_id"],
        iteration_dir,
        config,
        model_dir,
        weights,
        resume=resume,
        on_step=on_step,
    )


def _evaluate(
    rollouts: Rollouts,
    record: dict[str, Any],
    model_dir: Path | None,
    out_dir: Path,
    state: dict[str, Any],
) -> dict[str, Any]:
    """Score `model_dir`, the eval run's id saved first: a killed evaluation resumes its run
    (finished questions kept) instead of starting over."""
    if "eval_run_id" not in record:
        record["eval_run_id"] = rollouts.start_evaluation(model_dir)
        _save_state(out_dir, state)
    return rollouts.run_evaluation(model_dir, record["eval_run_id"]).to_dict()


def beats(score: dict[str, Any], best: dict[str, Any]) -> bool:
    """A higher pass rate wins; at an equal pass rate, a higher mean reward does.

    A small evaluation split ties often (20 questions move in 5-point steps). Keeping the
    incumbent on every tie would restart each round from the same model, so RL could never build
    on a round that improved what the reward measures (valid calls, grounding) without yet
    flipping a question; the reward is also what GRPO optimises. A score without a mean reward
    never wins a tie.
    """
    missing = float("-inf")
    candidate = (score["pass_rate"], score.get("mean_reward", missing))
    incumbent = (best["pass_rate"], best.get("mean_reward", missing))
    return candidate > incumbent


def _new_entry(history: list[dict[str, Any]], number: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"iteration": number}
    history.append(entry)
    return entry


def _copy_model(source: Path, target: Path) -> None:
    """Replace `target` by the checkpoint files of `source` (not its training state)."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for pattern in _MODEL_FILES:
        for path in source.glob(pattern):
            shutil.copy2(path, tmp / path.name)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def _load_state(out_dir: Path, resume: bool) -> dict[str, Any]:
    path = out_dir / LOOP_FILE
    if path.is_file():
        if not resume:
            raise TrainingError(
                f"{out_dir} already holds a training loop; pass --resume to continue it, "
                "or choose another --out"
            )
        return json.loads(path.read_text())
    if resume:
        raise TrainingError(f"nothing to resume in {out_dir}; start without --resume")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TrainingError(f"{out_dir} is not empty; choose a new or empty --out directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    return {}


def _save_state(out_dir: Path, state: dict[str, Any]) -> None:
    tmp = out_dir / (LOOP_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    tmp.replace(out_dir / LOOP_FILE)

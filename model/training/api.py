"""The training module's public API, used by `huijin train` and benchmarks/agentic_rl.py:

    source = resolve_model_dir(settings.model, settings.cache_dir)
    result = train(database, run_id, Path("out/rl-1"), TrainConfig(objective="rl"), source,
                   RewardWeights.from_settings(settings))
    # HUIJIN_MODEL=out/rl-1 now serves the trained model; --resume continues a crashed run

The output directory is a plain Hugging Face checkpoint (LoRA merged, tokenizer saved) beside
`training.json` (what was trained on, with which settings), `metrics.jsonl`, `plots/` and
`checkpoints/`; the engine reads only the checkpoint files.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.db.session import Database
from model.training.config import TrainConfig
from model.training.dataset import TrainingDataError, TrainingSet, build_training_set
from model.training.metrics import PLOTS_DIR, StepMetrics, plot_curves
from model.training.rewards import RewardWeights

MANIFEST = "training.json"
CURVES_PNG = "training_curves.png"


class TrainingError(ValueError):
    """A training run cannot start or resume; the message says what to do."""


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    num_tokens: int
    resumed_from_step: int | None
    data: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    plot: Path | None = None
    seconds: float = 0.0


def resolve_model_dir(model: str | None, cache_dir: Path) -> Path:
    """A model setting ("embedded", a checkpoint dir, a .gguf, a hub id) -> a checkpoint dir."""
    from model.engine.checkpoint import resolve_source

    name = None if model in (None, "", "embedded") else model
    return resolve_source(name, cache_dir).checkpoint_dir


def train(
    database: Database,
    run_id: str | None,
    out_dir: Path,
    config: TrainConfig,
    source_dir: Path | None,
    weights: RewardWeights,
    *,
    resume: bool = False,
    on_data: Callable[[TrainingSet], None] | None = None,
    on_step: Callable[[StepMetrics, int], None] | None = None,
) -> TrainResult:
    """Train on run `run_id` into `out_dir`; with `resume`, continue the run `out_dir` holds
    (its own run id, model, config and reward weights, whatever is passed)."""
    from model.training.policy import load_policy, load_tokenizer, save_checkpoint_dir
    from model.training.trainer import Trainer

    started = time.perf_counter()
    manifest = _read_manifest(out_dir)
    if resume:
        if manifest is None:
            raise TrainingError(f"nothing to resume in {out_dir}; start without --resume")
        if run_id is not None and not manifest["run_id"].startswith(run_id):
            raise TrainingError(
                f"{out_dir} trains on run {manifest['run_id']}, not {run_id}; drop --from-run"
            )
        run_id, source_dir = manifest["run_id"], Path(manifest["source_dir"])
        config = TrainConfig.from_dict(manifest["config"])
        weights = RewardWeights(**manifest["weights"])
    else:
        if manifest is not None:
            raise TrainingError(
                f"{out_dir} already holds a training run; pass --resume to continue it, "
                "or choose another --out"
            )
        if out_dir.exists() and any(out_dir.iterdir()):
            raise TrainingError(f"{out_dir} is not empty; choose a new or empty --out directory")
    if run_id is None or source_dir is None:
        raise TrainingError("give the run to train on (--from-run RUN_ID)")
    # The data is checked against the tokenizer before the (slow) model load.
    tokenizer = load_tokenizer(source_dir)
    data = build_training_set(database, run_id, tokenizer, config, weights)
    if on_data is not None:
        on_data(data)
    policy = load_policy(source_dir, config, _device(config), tokenizer)
    identity = _identity(data, config, source_dir)
    trainer = Trainer(policy, data, config, out_dir, identity, on_step)
    # Under `accelerate launch`/torchrun every process has checked out_dir above; only now may
    # the main one write to it (else another could find the fresh manifest and refuse).
    trainer.accelerator.wait_for_everyone()
    if manifest is None:
        manifest = {
            "run_id": data.run.id,
            "source_dir": str(source_dir),
            "config": config.to_dict(),
            "weights": asdict(weights),
            "data": data.summary(),
            "is_finished": False,
        }
        if trainer.accelerator.is_main_process:
            out_dir.mkdir(parents=True, exist_ok=True)
            _write_manifest(out_dir, manifest)
    outcome = trainer.run(resume=resume)
    plot = None
    if trainer.accelerator.is_main_process:
        policy.model = trainer.accelerator.unwrap_model(policy.model)
        save_checkpoint_dir(policy, out_dir)
        title = (
            f"{config.objective} on run {data.run.id[:12]} ({'LoRA' if config.lora else 'full'})"
        )
        plot = plot_curves(outcome.metrics, out_dir / PLOTS_DIR / CURVES_PNG, title)
        manifest.update(is_finished=True, steps=outcome.progress.step)
        _write_manifest(out_dir, manifest)
    return TrainResult(
        out_dir=out_dir,
        steps=outcome.progress.step,
        num_tokens=outcome.progress.num_tokens,
        resumed_from_step=outcome.resumed_from_step,
        data=data.summary(),
        metrics=outcome.metrics,
        plot=plot,
        seconds=time.perf_counter() - started,
    )


def _device(config: TrainConfig) -> str:
    import torch

    return "cuda" if config.device == "auto" and torch.cuda.is_available() else "cpu"


def _identity(data: TrainingSet, config: TrainConfig, source_dir: Path) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: same data (ids, advantages), model, config."""
    digest = hashlib.sha256()
    for sample in data.samples:
        digest.update(f"{sample.trajectory_id}:{len(sample)}:{sample.advantage:.6f};".encode())
    identity = {
        "run_id": data.run.id,
        "source_dir": str(source_dir),
        "config": config.to_dict(),
        "num_samples": len(data.samples),
        "samples_sha256": digest.hexdigest(),
    }
    return json.loads(json.dumps(identity))  # the form it has after a JSON round trip


def _read_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def _write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))


__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDataError",
    "TrainingError",
    "resolve_model_dir",
    "train",
]

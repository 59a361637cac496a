"""Resumable training state: written every N optimizer steps, read back after a crash.

    <out>/checkpoints/step-000010/
        trainable.safetensors   the adapters (LoRA) or every weight (full)
        optimizer.pt            AdamW moments and step counts
        rng.pt                  torch, Python and NumPy generator states
        state.json              step, data position (epoch, index), what the run trains on

A checkpoint is written to a temporary directory and renamed into place, so a crash while saving
leaves the previous checkpoint as the newest complete one; older ones beyond `keep` are deleted.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
_PREFIX = "step-"


@dataclass
class TrainProgress:
    """Where the loop is: optimizer steps done, and the next sample of the data order."""

    step: int = 0
    epoch: int = 0
    index: int = 0  # position in this epoch's sample order
    num_tokens: int = 0  # completion tokens trained on so far
    is_finished: bool = False


def checkpoint_root(out_dir: Path) -> Path:
    return out_dir / CHECKPOINTS


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The newest complete checkpoint directory, or None."""
    root = checkpoint_root(out_dir)
    if not root.is_dir():
        return None
    done = [
        p for p in root.iterdir() if p.name.startswith(_PREFIX) and (p / "state.json").is_file()
    ]
    return max(done, key=lambda p: int(p.name.removeprefix(_PREFIX)), default=None)


def save_training_state(
    out_dir: Path,
    progress: TrainProgress,
    trainable: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    identity: dict[str, Any],
    keep: int,
) -> Path:
    """Write one checkpoint atomically and prune old ones; returns its directory."""
    root = checkpoint_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{progress.step:06d}"
    tmp = root / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(
        {k: v.contiguous().cpu() for k, v in trainable.items()}, tmp / "trainable.safetensors"
    )
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(_rng_state(), tmp / "rng.pt")
    state = {"progress": asdict(progress), "identity": identity}
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    _prune(root, keep)
    return final


@dataclass
class LoadedState:
    progress: TrainProgress
    trainable: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    identity: dict[str, Any]
    rng: dict[str, Any]

    def restore_rng(self) -> None:
        torch.set_rng_state(self.rng["torch"])
        random.setstate(self.rng["python"])
        np.random.set_state(self.rng["numpy"])


def load_training_state(path: Path) -> LoadedState:
    state = json.loads((path / "state.json").read_text())
    return LoadedState(
        progress=TrainProgress(**state["progress"]),
        trainable=load_file(path / "trainable.safetensors"),
        optimizer_state=torch.load(path / "optimizer.pt", weights_only=False),
        identity=state["identity"],
        rng=torch.load(path / "rng.pt", weights_only=False),
    )


def _rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def _prune(root: Path, keep: int) -> None:
    done = sorted(
        (p for p in root.iterdir() if p.name.startswith(_PREFIX)),
        key=lambda p: int(p.name.removeprefix(_PREFIX)),
    )
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)

"""The loop saves an evaluation's run id before executing it, so a run killed mid-evaluation
resumes that same eval run (its finished questions kept) instead of starting a new one. The
episodes themselves are the eval runner's business (tests/model/training/test_collect.py resumes a
real one); here a recording `Rollouts` checks only the loop's bookkeeping."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from model.training.config import TrainConfig
from model.training.loop import LOOP_FILE, run_loop
from model.training.rewards import RewardWeights


class Killed(Exception):
    """Stands for the process dying mid-stage."""


@dataclass
class Score:
    run_id: str
    pass_rate: float

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "pass_rate": self.pass_rate}


@dataclass
class RecordingRollouts:
    kill_evaluation_once: bool = True
    started: list[str] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)

    def start_evaluation(self, model_dir: Path | None) -> str:
        self.started.append(f"eval-{len(self.started)}")
        return self.started[-1]

    def run_evaluation(self, model_dir: Path | None, run_id: str) -> Score:
        self.executed.append(run_id)
        if self.kill_evaluation_once:
            self.kill_evaluation_once = False
            raise Killed
        return Score(run_id, 0.25)

    def start_collect(self, model_dir: Path | None) -> str:
        raise Killed  # the test stops the loop once the base model is scored

    def run_collect(self, model_dir: Path | None, run_id: str) -> Score:
        raise AssertionError("not reached")


def test_a_killed_base_evaluation_resumes_its_run(tmp_path):
    rollouts, out = RecordingRollouts(), tmp_path / "loop"
    config = TrainConfig(objective="rl")
    with pytest.raises(Killed):
        run_loop(None, rollouts, out, 1, config, None, RewardWeights())  # type: ignore[arg-type]
    assert json.loads((out / LOOP_FILE).read_text())["base"]["eval_run_id"] == "eval-0"
    with pytest.raises(Killed):  # resumed: scores the base, then dies at the collect
        run_loop(None, rollouts, out, 1, config, None, RewardWeights(), resume=True)  # type: ignore[arg-type]
    assert rollouts.started == ["eval-0"] and rollouts.executed == ["eval-0", "eval-0"]
    base = json.loads((out / LOOP_FILE).read_text())["base"]
    assert base["score"] == {"run_id": "eval-0", "pass_rate": 0.25}

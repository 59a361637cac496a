"""Rollouts for training, and the scores the training loop keeps the best model by: both are runs
of the eval runner, so they get its logging, batching and `--resume` for free.

    spec = RolloutSpec(data=snapshot, split="train", group=8, limit=32)
    with EvalSession(rollout_settings(settings, model_dir, spec.temperature)) as evals:
        run_id = start_collect(evals, spec)       # a run of kind "collect"
        evals.execute(run_id)                     # G sampled agent episodes per question
    rewards = score_run(database, run_id, weights)   # every reward term stored per trajectory

`SuiteRollouts` packages that (and a greedy evaluation on another split) for
`model.training.loop`, which only sees its three methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.db.session import Database
from core.settings import Settings
from core.trajectory import TrajectoryStore
from evals.api import EvalSession
from evals.prompts import Mode
from evals.runner import EvalConfig, Finished
from evals.store import COLLECT_KIND, RUN_KIND
from model.training.rewards import RewardWeights, apply_rewards, is_invalid_call


@dataclass(frozen=True)
class RolloutSpec:
    """Which questions, how many episodes each, and how they are sampled."""

    data: Path  # the tool-use suite's market snapshot (or a benchmark file)
    split: str = "train"
    group: int = 8
    limit: int | None = None
    seed: int = 0
    concurrency: int = 8
    temperature: float = 0.8
    benchmark: str = "tooluse"
    mode: str = Mode.AGENT.value  # the agent with tools; direct/cot sample the plain model
    max_new_tokens: int = 256  # per reply in direct/cot (the agent: HUIJIN_AGENT_MAX_NEW_TOKENS)


@dataclass(frozen=True)
class RunScore:
    """A run's pass rate (scorer's verdict), valid-call rate and mean shaped reward."""

    run_id: str
    num_episodes: int
    pass_rate: float
    valid_call_rate: float
    mean_reward: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rollout_settings(settings: Settings, model_dir: Path | None, temperature: float) -> Settings:
    """The settings an episode runs with: this model, this temperature (0 = greedy)."""
    update: dict[str, Any] = {"temperature": temperature}
    if model_dir is not None:
        update["model"] = str(model_dir)
    return settings.model_copy(update=update)


def start_collect(evals: EvalSession, spec: RolloutSpec, kind: str = COLLECT_KIND) -> str:
    """Record a run of `spec.group` episodes per question (none solved yet)."""
    settings = evals.settings
    config = EvalConfig(
        benchmark=spec.benchmark,
        data=str(spec.data),
        split=spec.split,
        mode=spec.mode,
        max_new_tokens=spec.max_new_tokens,
        limit=spec.limit,
        concurrency=spec.concurrency,
        seed=spec.seed,
        group=spec.group,
        kind=kind,
        temperature=spec.temperature,
        model=settings.model,
        backend=settings.backend.value,
    )
    how = f"G={spec.group} T={spec.temperature:g}" if kind == COLLECT_KIND else "greedy"
    return evals.start(config, name=f"{spec.benchmark}/{spec.split} {kind} {how}")


def score_run(database: Database, run_id: str, weights: RewardWeights) -> RunScore:
    """Store every reward term of the run's episodes and sum them up."""
    store = TrajectoryStore(database)
    records = list(store.iter_records(run_id=run_id))
    rewards = apply_rewards(store, records, weights)
    scored = [r for r in records if r.id in rewards]
    if not scored:
        return RunScore(run_id, 0, 0.0, 0.0, 0.0)
    valid = [
        bool(r.tool_calls) and not any(is_invalid_call(c.result) for c in r.tool_calls)
        for r in scored
    ]
    return RunScore(
        run_id=run_id,
        num_episodes=len(scored),
        pass_rate=sum(rewards[r.id].is_correct for r in scored) / len(scored),
        valid_call_rate=sum(valid) / len(scored),
        mean_reward=sum(rewards[r.id].total for r in scored) / len(scored),
    )


class SuiteRollouts:
    """Collect on one split, evaluate (greedy, same seed every time) on another."""

    def __init__(
        self,
        settings: Settings,
        collect: RolloutSpec,
        evaluate: RolloutSpec,
        weights: RewardWeights,
        on_result: Callable[[str, Finished], None] | None = None,
    ) -> None:
        self.settings, self.collect_spec, self.eval_spec = settings, collect, evaluate
        self.weights, self.on_result = weights, on_result

    def start_collect(self, model_dir: Path | None) -> str:
        with self._session(model_dir, self.collect_spec.temperature) as evals:
            return start_collect(evals, self.collect_spec)

    def run_collect(self, model_dir: Path | None, run_id: str) -> RunScore:
        """Execute (or resume) the collect run, then store its rewards."""
        return self._execute(model_dir, self.collect_spec.temperature, run_id, "collect")

    def start_evaluation(self, model_dir: Path | None) -> str:
        """Record an eval run of the model on the evaluation split (greedy unless the spec says
        not), none solved yet; keep its id to resume it after a kill."""
        with self._session(model_dir, self.eval_spec.temperature) as evals:
            return start_collect(evals, self.eval_spec, kind=RUN_KIND)

    def run_evaluation(self, model_dir: Path | None, run_id: str) -> RunScore:
        """Execute (or resume) an evaluation run started by `start_evaluation`."""
        return self._execute(model_dir, self.eval_spec.temperature, run_id, "evaluate")

    def _execute(
        self, model_dir: Path | None, temperature: float, run_id: str, what: str
    ) -> RunScore:
        with self._session(model_dir, temperature) as evals:
            callback = (lambda f: self.on_result(what, f)) if self.on_result else None
            evals.execute(run_id, on_result=callback)
            return score_run(evals.database, run_id, self.weights)

    def _session(self, model_dir: Path | None, temperature: float) -> EvalSession:
        return EvalSession(rollout_settings(self.settings, model_dir, temperature))

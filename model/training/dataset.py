"""A run's logged episodes -> checked, rewarded training sequences.

    data = build_training_set(database, run_id, tokenizer, config, weights)

Refuses, with one line that says what to do: an unknown run, an empty run, a run without token
ids, turns logged under another tokenizer (their ids would mean other tokens), and a run with
nothing to learn from. Rewards are recomputed with the given weights and stored on each
trajectory (`reward`, `reward_terms`); the GRPO group of an episode is its question within the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from core.db.models import Run
from core.db.session import Database
from core.trajectory import TrajectoryRecord, TrajectoryStore
from model.engine.tokenizer_fingerprint import tokenizer_fingerprint
from model.training.config import TrainConfig
from model.training.objective import group_advantages
from model.training.rewards import RewardWeights, apply_rewards
from model.training.samples import RebuildCounts, Sample, group_id_of, rebuild_samples


class TrainingDataError(ValueError):
    """The run cannot be trained on; the message says why and what to do."""


@dataclass(frozen=True)
class RunInfo:
    id: str
    kind: str
    name: str


@dataclass
class TrainingSet:
    run: RunInfo
    samples: list[Sample]
    num_trajectories: int = 0
    num_used: int = 0  # episodes that gave samples (RL: scored; SFT: successful)
    num_correct: int = 0
    mean_reward: float = 0.0
    num_zero_advantage: int = 0  # sequences dropped: their group's rewards were all equal
    counts: RebuildCounts = field(default_factory=RebuildCounts)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run.id,
            "run_kind": self.run.kind,
            "trajectories": self.num_trajectories,
            "trajectories_used": self.num_used,
            "correct": self.num_correct,
            "mean_reward": round(self.mean_reward, 4),
            "sequences": len(self.samples),
            "completion_tokens": sum(s.num_completion_tokens for s in self.samples),
            "turns": self.counts.num_turns,
            "turns_skipped_too_long": self.counts.too_long,
            "turns_skipped_empty": self.counts.empty,
            "turns_skipped_no_logprobs": self.counts.no_logprobs,
            "sequences_skipped_zero_advantage": self.num_zero_advantage,
        }


def find_run(database: Database, run_id: str) -> RunInfo:
    """A run by id or unique prefix (6+ characters), of any kind."""
    with database.session() as session:
        query = select(Run)
        if len(run_id) >= 6:
            rows = session.scalars(query.where(Run.id.startswith(run_id)).limit(2)).all()
        else:
            rows = session.scalars(query.where(Run.id == run_id)).all()
        if len(rows) != 1:
            why = "is ambiguous; give more of it" if rows else "matches no run"
            raise TrainingDataError(
                f"run id {run_id!r} {why}; see `huijin eval list` or `huijin trajectories list`"
            )
        return RunInfo(rows[0].id, rows[0].kind, rows[0].name)


def build_training_set(
    database: Database,
    run_id: str,
    tokenizer: Any,
    config: TrainConfig,
    weights: RewardWeights,
) -> TrainingSet:
    run = find_run(database, run_id)
    store = TrajectoryStore(database)
    records = list(store.iter_records(run_id=run.id))
    if not records:
        raise TrainingDataError(
            f"run {run.id} has no trajectories; collect some with `huijin train collect`"
        )
    with_ids = [r for r in records if any(t.completion_ids for t in r.turns)]
    if not with_ids:
        raise TrainingDataError(
            f"run {run.id} has no model turns with token ids (its backend logged none); "
            "collect with the transformers backend (`huijin train collect`)"
        )
    check_tokenizer(with_ids, tokenizer)
    rewards = apply_rewards(store, with_ids, weights)
    data = TrainingSet(run=run, samples=[], num_trajectories=len(records))
    data.num_correct = sum(terms.is_correct for terms in rewards.values())
    if config.objective == "sft":
        used = [r for r in with_ids if r.id in rewards and rewards[r.id].is_correct]
        if not used:
            raise TrainingDataError(
                f"run {run.id} has no successful trajectory to imitate "
                f"(0 of {len(with_ids)} correct); collect more (--group, --limit) first"
            )
        advantages = dict.fromkeys((r.id for r in used), 0.0)
    else:
        used = [r for r in with_ids if r.id in rewards]
        if not used:
            raise TrainingDataError(
                f"run {run.id} has no scored trajectories (no reward to learn from); train from "
                "an eval or collect run"
            )
        values = group_advantages(
            [rewards[r.id].total for r in used],
            [group_id_of(r) for r in used],
            scale_by_std=config.scale_advantages_by_std,
        )
        advantages = {r.id: a for r, a in zip(used, values, strict=True)}
    data.num_used = len(used)
    data.mean_reward = sum(rewards[r.id].total for r in used) / len(used)
    for record in used:
        samples, counts = rebuild_samples(
            record, config.max_length, need_logprobs=config.objective == "rl"
        )
        data.counts.add(counts)
        for sample in samples:
            sample.reward = rewards[record.id].total
            sample.is_correct = rewards[record.id].is_correct
            sample.advantage = advantages[record.id]
            if config.objective == "rl" and config.skip_zero_advantage and sample.advantage == 0:
                data.num_zero_advantage += 1
                continue
            data.samples.append(sample)
    if not data.samples:
        raise TrainingDataError(_why_empty(run, data, config))
    return data


def check_tokenizer(records: list[TrajectoryRecord], tokenizer: Any) -> None:
    """Every turn's ids must belong to `tokenizer` (same fingerprint, ids in its range)."""
    expected = tokenizer_fingerprint(tokenizer)
    vocab_size = len(tokenizer)
    for record in records:
        for turn in record.turns:
            if not turn.completion_ids:
                continue
            where = f"trajectory {record.id[:12]} turn {turn.turn_index}"
            if not turn.tokenizer_fingerprint:
                raise TrainingDataError(
                    f"{where} was logged without a tokenizer fingerprint, so its token ids "
                    "cannot be checked; collect again with `huijin train collect`"
                )
            if turn.tokenizer_fingerprint != expected:
                raise TrainingDataError(
                    f"{where} was logged with tokenizer {turn.tokenizer_fingerprint[:12]}, but "
                    f"the model to train has tokenizer {expected[:12]}; train the model that "
                    "collected the run (--model) or collect again with this one"
                )
            if max(turn.prompt_ids + turn.completion_ids, default=0) >= vocab_size:
                raise TrainingDataError(
                    f"{where} has token ids outside the tokenizer's {vocab_size} ids"
                )


def _why_empty(run: RunInfo, data: TrainingSet, config: TrainConfig) -> str:
    if data.counts.too_long and data.counts.too_long >= data.counts.num_turns - data.counts.empty:
        return (
            f"run {run.id}: every turn is longer than max_length {config.max_length} tokens "
            f"({data.counts.too_long} skipped); raise --max-length"
        )
    if data.num_zero_advantage:
        return (
            f"run {run.id}: every group's episodes got the same reward, so GRPO has no signal; "
            "collect with a larger --group (or a higher HUIJIN_TRAIN_TEMPERATURE)"
        )
    if data.counts.no_logprobs:
        return f"run {run.id}: its turns have no logprobs; collect with the transformers backend"
    return f"run {run.id}: no model turn could be turned into a training sequence"

"""A run's logged episodes -> training sequences, and the clear refusals of bad runs."""

from __future__ import annotations

import pytest

from core.trajectory import TrajectoryStore
from model.training.config import TrainConfig
from model.training.dataset import TrainingDataError, build_training_set
from model.training.rewards import RewardWeights
from tests.model.training.episodes import scripted_episode

WEIGHTS = RewardWeights(outcome=1.0, format=0.0, grounding=0.0, step_cost=0.0)


def save_run(database, records, kind: str = "collect") -> str:
    store = TrajectoryStore(database)
    run_id = store.create_run(kind, name="test")
    for record in records:
        record.run_id = run_id
        store.save(record)
    return run_id


def episode(tokenizer, group: str, score: float | None, **overrides):
    values = {
        "question": f"What was KO's close? ({group})",
        "ticker": "KO",
        "day": "2023-11-06",
        "close": 56.97,
        "answer": "KO closed at 56.97.",
        "group_id": group,
        "score": score,
    }
    return scripted_episode(tokenizer, **(values | overrides))


def build(database, run_id, tokenizer, **config):
    return build_training_set(database, run_id, tokenizer, TrainConfig(**config), WEIGHTS)


def test_rl_set_has_group_relative_advantages_and_drops_groups_without_signal(database, tokenizer):
    records = [
        episode(tokenizer, "a", 1.0),
        episode(tokenizer, "a", 0.0),
        episode(tokenizer, "b", 1.0),
        episode(tokenizer, "b", 1.0),  # same reward as its partner: no signal
        episode(tokenizer, "c", None),  # unscored: not trained on
    ]
    run_id = save_run(database, records)
    data = build(database, run_id[:8], tokenizer)
    assert data.run.id == run_id and data.num_trajectories == 5 and data.num_used == 4
    by_trajectory = {s.trajectory_id: s for s in data.samples}
    assert set(by_trajectory) == {records[0].id, records[1].id}
    # group a: rewards 1, 0 -> (r - 0.5) / (std 0.7071 + 1e-4)
    assert by_trajectory[records[0].id].advantage == pytest.approx(0.5 / 0.70721, abs=1e-4)
    assert by_trajectory[records[1].id].advantage == pytest.approx(-0.5 / 0.70721, abs=1e-4)
    assert data.num_zero_advantage == 2
    assert TrajectoryStore(database).get(records[1].id).reward_terms["outcome"] == 0.0


def test_sft_set_keeps_only_successful_episodes(database, tokenizer):
    records = [episode(tokenizer, "a", 1.0), episode(tokenizer, "a", 0.0)]
    data = build(database, save_run(database, records), tokenizer, objective="sft")
    assert [s.trajectory_id for s in data.samples] == [records[0].id]


def test_unknown_run_is_refused(database, tokenizer):
    with pytest.raises(TrainingDataError, match="matches no run; see `huijin eval list`"):
        build(database, "0123456789abcdef", tokenizer)


def test_empty_run_is_refused(database, tokenizer):
    run_id = save_run(database, [])
    with pytest.raises(TrainingDataError, match=f"run {run_id} has no trajectories; collect"):
        build(database, run_id, tokenizer)


def test_run_without_token_ids_is_refused(database, tokenizer):
    record = episode(tokenizer, "a", 1.0)
    for turn in record.turns:
        turn.prompt_ids, turn.completion_ids, turn.logprobs = [], [], None
    with pytest.raises(TrainingDataError, match="no model turns with token ids"):
        build(database, save_run(database, [record]), tokenizer)


def test_mismatched_tokenizer_is_refused(database, tokenizer):
    run_id = save_run(database, [episode(tokenizer, "a", 1.0, fingerprint="f" * 64)])
    with pytest.raises(
        TrainingDataError, match="logged with tokenizer ffffffffffff, but the model"
    ):
        build(database, run_id, tokenizer)


def test_turns_without_fingerprint_are_refused(database, tokenizer):
    run_id = save_run(database, [episode(tokenizer, "a", 1.0, fingerprint="")])
    with pytest.raises(TrainingDataError, match="without a tokenizer fingerprint"):
        build(database, run_id, tokenizer)


def test_sft_without_a_success_is_refused(database, tokenizer):
    run_id = save_run(database, [episode(tokenizer, "a", 0.0), episode(tokenizer, "a", 0.0)])
    with pytest.raises(TrainingDataError, match=r"no successful trajectory to imitate \(0 of 2"):
        build(database, run_id, tokenizer, objective="sft")


def test_rl_with_equal_rewards_everywhere_is_refused(database, tokenizer):
    run_id = save_run(database, [episode(tokenizer, "a", 1.0), episode(tokenizer, "a", 1.0)])
    with pytest.raises(TrainingDataError, match="same reward, so GRPO has no signal"):
        build(database, run_id, tokenizer)


def test_turns_all_too_long_are_refused_with_the_fix(database, tokenizer):
    run_id = save_run(database, [episode(tokenizer, "a", 1.0), episode(tokenizer, "a", 0.0)])
    with pytest.raises(TrainingDataError, match=r"longer than max_length 64 tokens.*--max-length"):
        build(database, run_id, tokenizer, max_length=64)

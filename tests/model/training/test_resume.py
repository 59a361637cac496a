"""Training runs that crash resume to exactly the state an uninterrupted run reaches; output
directories are never overwritten by accident."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from core.trajectory import TrajectoryStore
from model.training.api import TrainingError, train
from model.training.checkpoint import latest_checkpoint, load_training_state
from model.training.config import TrainConfig
from model.training.rewards import RewardWeights
from tests.model.training.episodes import save_two_groups

WEIGHTS = RewardWeights(outcome=1.0, format=0.0, grounding=0.0, step_cost=0.0)


class Crash(RuntimeError):
    pass


@pytest.fixture
def run_id(database, tokenizer):
    store = TrajectoryStore(database)
    run_id = store.create_run("collect", name="resume test")
    save_two_groups(store, tokenizer, run_id)
    return run_id


def config(lora: bool) -> TrainConfig:
    return TrainConfig(
        objective="rl",
        lora=lora,
        lora_r=4,
        learning_rate=1e-2,
        num_epochs=2,
        max_steps=5,  # crosses the epoch boundary after step 4
        micro_batch_size=1,
        grad_accum_steps=1,
        checkpoint_every=2,
        kl_beta=0.04,
        device="cpu",
    )


@pytest.mark.parametrize(
    "lora", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["lora", "full"]
)
def test_resumed_run_equals_an_uninterrupted_run(database, run_id, tiny_model_dir, tmp_path, lora):
    straight = train(database, run_id, tmp_path / "a", config(lora), tiny_model_dir, WEIGHTS)
    assert straight.steps == 5

    def crash_at_step_3(metrics, _total):
        if metrics.step == 3:
            raise Crash

    crashed = tmp_path / "b"
    with pytest.raises(Crash):
        train(
            database,
            run_id,
            crashed,
            config(lora),
            tiny_model_dir,
            WEIGHTS,
            on_step=crash_at_step_3,
        )
    assert latest_checkpoint(crashed).name == "step-000002"
    assert not (crashed / "config.json").exists()  # no half-trained model is published
    resumed = train(database, None, crashed, config(lora), None, WEIGHTS, resume=True)
    assert resumed.resumed_from_step == 2 and resumed.steps == 5

    final_a = load_file(tmp_path / "a" / "model.safetensors")
    final_b = load_file(crashed / "model.safetensors")
    base = load_file(tiny_model_dir / "model.safetensors")
    assert final_a.keys() == final_b.keys()
    for name in final_a:
        torch.testing.assert_close(final_a[name], final_b[name], rtol=0, atol=0)
    assert any(not torch.equal(final_a[n], base[n]) for n in base), "training changed nothing"
    rows_a = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    rows_b = (crashed / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows_b] == [1, 2, 3, 4, 5]  # step 3 logged once
    strip = lambda row: {k: v for k, v in json.loads(row).items() if k != "seconds"}  # noqa: E731
    assert [strip(r) for r in rows_a] == [strip(r) for r in rows_b]
    state_a = load_training_state(latest_checkpoint(tmp_path / "a"))
    state_b = load_training_state(latest_checkpoint(crashed))
    assert state_a.progress == state_b.progress and state_b.progress.is_finished
    assert (state_b.progress.epoch, state_b.progress.index) == (1, 1)
    moments_a = state_a.optimizer_state["state"]
    moments_b = state_b.optimizer_state["state"]
    for key in moments_a:
        torch.testing.assert_close(
            moments_a[key]["exp_avg"], moments_b[key]["exp_avg"], rtol=0, atol=0
        )
    assert (crashed / "plots" / "training_curves.png").stat().st_size > 1000


def test_an_output_dir_is_never_overwritten_or_resumed_by_mistake(
    database, run_id, tiny_model_dir, tmp_path
):
    out = tmp_path / "out"
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(database, run_id, out, config(True), tiny_model_dir, WEIGHTS, resume=True)
    train(database, run_id, out, TrainConfig(max_steps=1, device="cpu"), tiny_model_dir, WEIGHTS)
    with pytest.raises(TrainingError, match="already holds a training run; pass --resume"):
        train(database, run_id, out, config(True), tiny_model_dir, WEIGHTS)
    with pytest.raises(TrainingError, match="trains on run"):
        train(database, "ffffff", out, config(True), None, WEIGHTS, resume=True)

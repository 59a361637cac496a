"""`huijin train rl` end to end on episodes the real model wrote, and its one-line errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from safetensors import safe_open
from typer.testing import CliRunner

from app.cli import app
from core.db.session import open_database
from core.settings import load_settings
from core.trajectory import TrajectoryStore
from tests.model.training.episodes import sampled_episode, scripted_episode

QUESTION = "What was KO's close on 2023-11-06?"


@pytest.fixture
def env(tmp_path, huijin_cache_dir):
    return {"HUIJIN_DATA_DIR": str(tmp_path / "data"), "HUIJIN_CACHE_DIR": str(huijin_cache_dir)}


def store_for(env) -> TrajectoryStore:
    settings = load_settings(data_dir=env["HUIJIN_DATA_DIR"], cache_dir=env["HUIJIN_CACHE_DIR"])
    return TrajectoryStore(open_database(settings.resolved_database_url()))


def invoke(env, *args: str):
    return CliRunner().invoke(app, ["train", *args], env=env)


def test_train_rl_with_lora_writes_a_checkpoint_the_engine_serves(
    env, tmp_path, embedded_engine, embedded_dir
):
    store = store_for(env)
    run_id = store.create_run("collect", name="cli test")
    # Two sampled episodes of one question (one group): the first scored right, the second wrong.
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(
                sampled_episode,
                embedded_engine,
                question=QUESTION,
                ticker="KO",
                day="2023-11-06",
                close=56.97,
                run_id=run_id,
                group_id="q1",
                score=score,
                seed=seed,
                max_new_tokens=16,
            )
            for seed, score in ((1, 1.0), (2, 0.0))
        ]
        for future in futures:
            store.save(future.result())
    out = tmp_path / "rl-out"
    result = invoke(
        env, "rl", "--from-run", run_id, "--out", str(out), "--max-steps", "2", "--grad-accum", "1"
    )
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and f"HUIJIN_MODEL={out}" in result.output
    assert (out / "metrics.jsonl").read_text().count("\n") == 2
    assert (out / "plots" / "training_curves.png").is_file()

    name = "model.layers.0.self_attn.q_proj.weight"
    with (
        safe_open(out / "model.safetensors", "pt") as trained,
        safe_open(embedded_dir / "model.safetensors", "pt") as base,
    ):
        assert not trained.get_tensor(name).equal(base.get_tensor(name)), "LoRA was not merged"

    from model.engine.factory import create_engine
    from model.engine.types import SamplingParams

    settings = load_settings(model=str(out), cache_dir=env["HUIJIN_CACHE_DIR"])
    engine = create_engine(settings)
    try:
        assert engine.model_id == "rl-out"
        assert engine.tokenizer_fingerprint == embedded_engine.tokenizer_fingerprint
        reply = engine.chat(
            [{"role": "user", "content": "Hi"}], params=SamplingParams(max_new_tokens=4)
        )
        assert reply.completion_ids
    finally:
        engine.close()


def test_errors_are_one_line_with_a_non_zero_exit(env, tmp_path, tokenizer, tiny_model_dir):
    store = store_for(env)
    model = ["--model", str(tiny_model_dir)]
    unknown = invoke(env, "rl", "--from-run", "0123456789ab", "--out", str(tmp_path / "a"), *model)
    assert unknown.exit_code == 1
    assert unknown.output.strip().splitlines() == [
        "error: run id '0123456789ab' matches no run; see `huijin eval list` or `huijin "
        "trajectories list`"
    ]

    empty_run = store.create_run("collect", name="empty")
    empty = invoke(env, "sft", "--from-run", empty_run, "--out", str(tmp_path / "b"), *model)
    assert empty.exit_code == 1 and "has no trajectories" in empty.output
    assert len(empty.output.strip().splitlines()) == 1

    foreign_run = store.create_run("collect", name="other tokenizer")
    store.save(
        scripted_episode(
            tokenizer,
            question=QUESTION,
            ticker="KO",
            day="2023-11-06",
            close=56.97,
            answer="56.97",
            run_id=foreign_run,
            fingerprint="0" * 64,
        )
    )
    foreign = invoke(env, "rl", "--from-run", foreign_run, "--out", str(tmp_path / "c"), *model)
    assert foreign.exit_code == 1 and "logged with tokenizer 000000000000" in foreign.output
    assert len(foreign.output.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()

"""`huijin train rl` as two processes (torchrun, gloo on CPU): the code path `accelerate launch
--config_file configs/accelerate/multi_gpu.yaml` takes on GPUs. Each process trains on every
second sequence of a step and DDP sums the gradients, so two processes with --grad-accum 2 must
end where one process with --grad-accum 4 ends; only the main process writes the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from app.cli import app
from core.db.session import open_database
from core.trajectory import TrajectoryStore
from tests.model.training.episodes import save_two_groups

pytestmark = pytest.mark.timeout(600)
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def _collect_run(data_dir: Path, tokenizer) -> str:
    database = open_database(f"sqlite:///{data_dir / 'huijin.db'}")
    store = TrajectoryStore(database)
    run_id = store.create_run("collect", name="two processes")
    save_two_groups(store, tokenizer, run_id)
    database.close()
    return run_id


def test_two_processes_train_to_the_weights_one_process_reaches(
    tmp_path, tokenizer, tiny_model_dir, huijin_cache_dir
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    run_id = _collect_run(data_dir, tokenizer)
    env = {"HUIJIN_DATA_DIR": str(data_dir), "HUIJIN_CACHE_DIR": str(huijin_cache_dir)}
    common = ["train", "rl", "--from-run", run_id, "--model", str(tiny_model_dir), "--full"]
    common += ["--max-steps", "1", "--lr", "0.01"]

    one = tmp_path / "one"
    result = CliRunner().invoke(app, [*common, "--out", str(one), "--grad-accum", "4"], env=env)
    assert result.exit_code == 0, result.output

    two = tmp_path / "two"
    huijin = Path(sys.executable).parent / "huijin"
    launched = subprocess.run(
        [*TORCHRUN, str(huijin), *common, "--out", str(two), "--grad-accum", "2"],
        env={**os.environ, **env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    assert launched.stdout.count("HUIJIN_MODEL=") == 1  # only the main process reports

    expected, got = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    start = load_file(tiny_model_dir / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(expected[name], start[name])  # the step did move the weights
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-7)
    (alone,) = (json.loads(line) for line in (one / "metrics.jsonl").read_text().splitlines())
    (split,) = (json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines())
    assert split["num_sequences"] == 4 and split["num_tokens"] == alone["num_tokens"]
    assert split["loss"] == pytest.approx(alone["loss"], rel=1e-5)
    assert split["grad_norm"] == pytest.approx(alone["grad_norm"], rel=1e-3)
    assert json.loads((two / "training.json").read_text())["is_finished"] is True

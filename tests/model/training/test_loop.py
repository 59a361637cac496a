"""`huijin train loop` end to end on the real agent: collect -> GRPO -> evaluate -> keep the
best, with loop.json recording every stage. Slow: agent episodes and a 135M training step."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_train_loop_runs_a_round_and_records_it(tmp_path, huijin_cache_dir, snapshot_dir):
    env = {
        "HUIJIN_DATA_DIR": str(tmp_path / "data"),
        "HUIJIN_CACHE_DIR": str(huijin_cache_dir),
        "HUIJIN_MARKET_SNAPSHOT": str(snapshot_dir),
        "HUIJIN_MARKET_LIVE": "false",
        "HUIJIN_AGENT_MAX_STEPS": "2",
    }
    out = tmp_path / "loop"
    args = ["train", "loop", "--iterations", "1", "--out", str(out), "--limit", "1"]
    args += ["--group", "4", "--dev-limit", "1", "--concurrency", "4"]
    args += ["--grad-accum", "2", "--max-steps", "1"]  # one optimizer step on two sequences
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    state = json.loads((out / "loop.json").read_text())
    assert 0.0 <= state["base"]["score"]["pass_rate"] <= 1.0
    (entry,) = state["iterations"]
    assert entry["collect"]["num_episodes"] == 4
    if "skipped" in entry["train"]:  # all four episodes scored alike: no GRPO signal
        assert "same reward" in entry["train"]["skipped"] and entry["score"] == {}
    else:
        assert (out / "iter-01" / "config.json").is_file()
        assert 0.0 <= entry["score"]["pass_rate"] <= 1.0
        assert entry["is_best"] == (out / "best" / "config.json").is_file()
    again = CliRunner().invoke(app, [*args, "--resume"], env=env)  # everything done: no work
    assert again.exit_code == 0, again.output
    assert json.loads((out / "loop.json").read_text()) == state

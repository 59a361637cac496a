"""benchmarks/agentic_rl.py's stage bookkeeping without a model: a finished stage is read back,
not recomputed, and every stage's wall time is kept for the report."""

from __future__ import annotations

import json

from _agentic_rl_report import chosen_round, markdown
from agentic_rl import Stages

from tests.benchmarks.conftest import BENCHMARKS_DIR


def test_stages_resume_and_record_their_wall_time(tmp_path):
    calls = []
    stages = Stages(tmp_path)
    assert stages.run("base_test", lambda: calls.append(1) or {"pass_rate": 0.5}) == {
        "pass_rate": 0.5
    }
    again = Stages(tmp_path)  # a rerun reads the work dir
    assert again.run("base_test", lambda: calls.append(2)) == {"pass_rate": 0.5}
    assert calls == [1]
    recorded = json.loads((tmp_path / "bench.json").read_text())
    assert set(recorded["stage_seconds"]) == {"base_test"}
    assert recorded["stage_seconds"]["base_test"] >= 0


def test_the_report_names_the_stages_that_took_a_minute_or_more():
    # The committed full run is a real report; only its timings are set here.
    report = json.loads((BENCHMARKS_DIR / "results" / "agentic_rl.json").read_text())
    report["stage_seconds"] = {"tool_calls": 0.0, "base_test": 360.0, "sft": 3969.1}
    assert "Stage wall times (1.2 h in all): base_test 6 min, sft 66 min" in markdown(report)
    del report["stage_seconds"]  # reports from before the timings: no line
    assert "Stage wall times" not in markdown(report)


def test_the_round_kept_is_the_last_that_beat_the_best_so_far():
    history = [
        {"model_dir": "sft"},  # the warm start's evaluation comes first
        {"iteration": 1, "is_best": True},
        {"iteration": 2, "is_best": True},
        {"iteration": 3, "is_best": False},
    ]
    assert chosen_round(history) == 2
    assert chosen_round([history[0], {"iteration": 1, "is_best": False}]) == 0

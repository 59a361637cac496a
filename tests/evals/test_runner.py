"""The runner on the real embedded model and a real SQLite database: results and trajectories
stored as they finish, resume redoes nothing finished, reports, and the CLI."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core.db.eval_models import EvalResult
from core.db.models import Trajectory
from core.db.session import open_database
from core.settings import load_settings
from evals.api import EvalSession
from evals.report import wilson_interval
from evals.runner import EvalConfig, select_examples

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def session(tmp_path, embedded_engine):
    settings = load_settings(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    with EvalSession(settings, engine=embedded_engine) as evals:
        yield evals


def gsm8k_config(samples: Path, **kwargs) -> EvalConfig:
    values = {
        "benchmark": "gsm8k",
        "data": str(samples / "gsm8k_sample.jsonl"),
        "split": "test",
        "max_new_tokens": 8,
    }
    return EvalConfig(**{**values, **kwargs})


class Interrupt(KeyboardInterrupt):
    pass


def test_interrupted_run_resumes_without_redoing_anything(session, samples):
    run_id = session.start(gsm8k_config(samples, concurrency=1))

    def stop_after_first(_finished):
        raise Interrupt  # as Ctrl-C would, right after the first example is stored

    with pytest.raises(Interrupt):
        session.execute(run_id, on_result=stop_after_first)
    first = session.store.results(run_id)
    assert len(first) == 1

    seen = []
    assert session.execute(run_id, on_result=seen.append) == 2
    assert [f.example_id for f in seen] == ["test-2", "test-3"]
    results = session.store.results(run_id)
    assert [r.example_id for r in results] == ["test-1", "test-2", "test-3"]
    assert (results[0].id, results[0].created_at) == (first[0].id, first[0].created_at)
    assert session.execute(run_id) == 0  # finished: nothing left to do

    with session.database.session() as db:
        trajectories = db.scalars(select(Trajectory).where(Trajectory.run_id == run_id)).all()
        assert len(trajectories) == 3
        for trajectory in trajectories:
            assert (
                trajectory.reward is not None
                and trajectory.reward_terms["method"] == "gsm8k-final-number"
            )
            assert trajectory.extra["benchmark"] == "gsm8k"
    assert all(r.trajectory_id for r in results)


def test_concurrent_run_and_report(session, samples, tmp_path):
    run_a = session.start(gsm8k_config(samples, concurrency=3))
    assert session.execute(run_a) == 3
    run_b = session.start(gsm8k_config(samples, mode="cot", limit=2, seed=1))
    session.execute(run_b)
    summary = session.run(run_b[:8])
    assert summary.num_done == summary.num_examples == 2
    paths = session.report([run_a, run_b], tmp_path / "report")
    markdown = paths["markdown"].read_text()
    assert "accuracy [95% CI]" in markdown and "## Worst failures" in markdown
    assert run_a[:8] in markdown and run_b[:8] in markdown  # side by side
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in paths["html"].read_text()


def test_wilson_interval():
    low, high = wilson_interval(0, 4)
    assert low == 0.0 and high == pytest.approx(0.4899, abs=1e-4)
    low, high = wilson_interval(50, 100)
    assert (low, high) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert math.isclose(sum(wilson_interval(7, 10)) / 2, (7 + 1.9208) / (10 + 3.8415), rel_tol=1e-3)


def test_limit_is_a_seeded_sample_in_file_order(samples):
    from evals.benchmarks import load_benchmark

    examples = load_benchmark("gsm8k", samples / "gsm8k_sample.jsonl", "test")
    picked = select_examples(examples, 2, seed=5)
    assert picked == select_examples(examples, 2, seed=5)
    assert [examples.index(e) for e in picked] == sorted(examples.index(e) for e in picked)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="mode"):
        EvalConfig(benchmark="gsm8k", data="x", split="test", mode="fast")
    with pytest.raises(ValueError, match="concurrency"):
        EvalConfig(benchmark="gsm8k", data="x", split="test", concurrency=0)


def test_cli_list_and_report(session, samples, tmp_path, monkeypatch):
    from app.cli import app

    run_id = session.start(gsm8k_config(samples, limit=1))
    session.execute(run_id)
    monkeypatch.setenv("HUIJIN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    listed = runner.invoke(app, ["eval", "list"])
    assert listed.exit_code == 0 and run_id[:12] in listed.output
    reported = runner.invoke(app, ["eval", "report", run_id[:8], "--out", str(tmp_path / "r")])
    assert reported.exit_code == 0, reported.output
    assert (tmp_path / "r" / "report.html").is_file()
    missing = runner.invoke(app, ["eval", "report", "nosuchrun"])
    assert missing.exit_code == 1 and "huijin eval list" in missing.output


def _count_results(path: Path) -> int:
    """Rows stored so far, read without migrating (the process under test owns the schema)."""
    try:
        with sqlite3.connect(path, timeout=10) as connection:
            return connection.execute("SELECT count(*) FROM eval_results").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def _first_run_id(url: str) -> str:
    database = open_database(url)
    try:
        with database.session() as db:
            return db.scalar(select(EvalResult.run_id))
    finally:
        database.close()


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_killed_cli_run_resumes(tmp_path, samples, how):
    """`huijin eval run` killed mid-run (SIGKILL, or Ctrl-C's SIGINT) keeps what finished, and
    `--resume` completes the run without redoing it."""
    data = tmp_path / "gsm8k.jsonl"
    lines = (samples / "gsm8k_sample.jsonl").read_text().splitlines()
    data.write_text("\n".join(lines * 4) + "\n")  # 12 examples, enough to be killed mid-run
    env = {
        **os.environ,
        "HUIJIN_DATA_DIR": str(tmp_path),
        "HUIJIN_CACHE_DIR": os.environ.get("HUIJIN_CACHE_DIR", str(REPO / ".cache/huijin")),
    }
    url = f"sqlite:///{tmp_path / 'huijin.db'}"
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "eval",
        "run",
        "--benchmark",
        "gsm8k",
        "--data",
        str(data),
        "--max-new-tokens",
        "24",
    ]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        if (tmp_path / "huijin.db").exists() and _count_results(tmp_path / "huijin.db") >= 2:
            break
    assert process.poll() is None, process.communicate()[0]
    process.send_signal(how)
    output = process.communicate(timeout=120)[0]
    done_before = _count_results(tmp_path / "huijin.db")
    assert 2 <= done_before < 12, output
    run_id = _first_run_id(url)
    resumed = subprocess.run(
        [*command[:5], "--resume", run_id],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "12/12 done" in resumed.stdout
    database = open_database(url)
    with database.session() as db:
        ids = db.scalars(select(EvalResult.example_id)).all()
    database.close()
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 12

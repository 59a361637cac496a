"""`--method` runs: reason() per example on the real embedded model, stored with its reasoning,
resumable and concurrent like the other modes; bad methods and PRMs are refused up front."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core.db.models import Trajectory
from core.settings import load_settings
from evals.api import EvalSession
from evals.runner import EvalConfig
from evals.solvers import reasoning_reply
from model.reasoning import normalize_answer
from tests.agent.test_verify import reasoned


class Interrupt(KeyboardInterrupt):
    pass


@pytest.fixture
def session(tmp_path, embedded_engine):
    settings = load_settings(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    with EvalSession(settings, engine=embedded_engine) as evals:
        yield evals


def reason_config(samples, **kwargs) -> EvalConfig:
    values = {
        "benchmark": "gsm8k",
        "data": str(samples / "gsm8k_sample.jsonl"),
        "split": "test",
        "mode": "reason",
        "max_new_tokens": 8,
        "temperature": 0.8,
    }
    return EvalConfig(**{**values, **kwargs})


def test_ar_run_stores_answers_tokens_rethinks_and_resumes(session, samples):
    config = reason_config(
        samples, method="ar", prm="verifier", num_samples=2, threshold=1.0, concurrency=2
    )
    run_id = session.start(config)

    def stop_after_first(_finished):
        raise Interrupt  # as Ctrl-C would, once the first example is stored

    # Two examples are solved at once; the one still in flight when Ctrl-C comes is stored too,
    # the third is never started and `resume` does only it.
    with pytest.raises(Interrupt):
        session.execute(run_id, on_result=stop_after_first)
    first = {r.example_id: r.created_at for r in session.store.results(run_id)}
    assert sorted(first) == ["test-1", "test-2"]
    assert session.execute(run_id) == 1
    assert session.execute(run_id) == 0
    results = session.store.results(run_id)
    assert [r.example_id for r in results] == ["test-1", "test-2", "test-3"]
    assert {r.example_id: r.created_at for r in results[:2]} == first
    with session.database.session() as db:
        trajectories = db.scalars(select(Trajectory).where(Trajectory.run_id == run_id)).all()
        assert len(trajectories) == 3
        for row in trajectories:
            reasoning = row.extra["reasoning"]
            assert row.extra["mode"] == "reason" and reasoning["method"] == "ar"
            assert reasoning["prm"] == "verifier" and len(reasoning["samples"]) == 2
            assert reasoning["config"]["threshold"] == 1.0
            assert reasoning["usage"]["generated_tokens"] == sum(
                s["usage"]["generated_tokens"] for s in reasoning["samples"]
            )
            assert all(s["usage"]["generated_tokens"] <= 8 for s in reasoning["samples"])
            # p = 1 makes every non-final step weak: each path was rethought at least once
            # unless it ended in its first step.
            for sample in reasoning["samples"]:
                assert len(sample["rethinks"]) >= (len(sample["steps"]) > 1)
            chosen = reasoning["samples"][reasoning["chosen_index"]]["text"]
            if reasoning["answer"] is None:
                assert row.final_answer == chosen
            else:
                shown, stated = row.final_answer.rsplit("\n\nAnswer: ", 1)
                assert shown == chosen.rstrip()
                assert normalize_answer(stated) == reasoning["answer"]
            assert row.settings["method"] == "ar" and row.settings["prm"] == "verifier"
    for result in results:
        summary = result.details["reasoning"]
        assert summary["method"] == "ar" and summary["generated_tokens"] > 0
        assert summary["num_samples"] == 2 and result.stop_reason in {"stop", "length", "max_steps"}
    assert (
        "ar (PRM verifier)"
        in session.report([run_id], session.settings.data_dir / "r")["markdown"].read_text()
    )


def test_reply_ends_with_the_chosen_answer_unit_kept():
    result = reasoned("## Step 1: 1 / 4 = 0.25\n\nThe final answer is $\\boxed{25\\%}$.")
    assert reasoning_reply(result).endswith("$.\n\nAnswer: 25\\%")
    result.answer = "0.25"  # a vote for another value than the sample's box: the vote is scored
    assert reasoning_reply(result).endswith("\n\nAnswer: 0.25")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "beam"}, "method must be one of ar, greedy, sc, bon, weighted; got 'beam'"),
        ({"method": "ar"}, "method ar needs a PRM: add --prm verifier"),
        ({"method": "bon", "prm": "/no/such/prm"}, "unknown PRM '/no/such/prm'"),
        ({"method": "sc", "num_samples": 0}, "num_samples (N) must be at least 1"),
        ({"method": None}, "a reasoning method runs in mode reason"),
        ({"method": "greedy", "mode": "cot"}, "a reasoning method runs in mode reason"),
    ],
)
def test_bad_reasoning_config_is_refused(samples, kwargs, message):
    with pytest.raises(ValueError) as caught:
        reason_config(samples, **kwargs)
    assert message in str(caught.value)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("HUIJIN_") and key != "HUIJIN_CACHE_DIR":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("HUIJIN_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "wvote"], "method must be one of ar, greedy, sc, bon, weighted"),
        (["--method", "ar"], "method ar needs a PRM: add --prm verifier"),
        (["--method", "bon", "--prm", "oracle"], "unknown PRM 'oracle'"),
        (["--method", "ar", "--mode", "agent"], "--method runs on the plain model"),
        (["--prm", "verifier"], "--prm and --n go with --method"),
        (["--mode", "reason"], "a reasoning method runs in mode reason"),
    ],
)
def test_cli_refuses_bad_method_in_one_line(clean_env, samples, args, message):
    from app.cli import app

    data = str(samples / "gsm8k_sample.jsonl")
    result = CliRunner().invoke(app, ["eval", "run", "--benchmark", "gsm8k", "--data", data, *args])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.slow
def test_cli_greedy_method_end_to_end(clean_env, samples):
    from app.cli import app

    data = str(samples / "gsm8k_sample.jsonl")
    args = ["eval", "run", "--benchmark", "gsm8k", "--data", data, "--limit", "2"]
    result = CliRunner().invoke(app, [*args, "--method", "greedy", "--max-new-tokens", "16"])
    assert result.exit_code == 0, result.output
    assert "2/2 done" in result.stdout
    with EvalSession(load_settings()) as evals:
        (run,) = evals.runs()
        results = evals.store.results(run.id)
    assert (run.config["mode"], run.config["method"], run.config["prm"]) == (
        "reason",
        "greedy",
        None,
    )
    assert [r.details["reasoning"]["num_samples"] for r in results] == [1, 1]

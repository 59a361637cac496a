"""Rollout collection is the eval runner: a run of kind "collect", G sampled episodes per
question sharing a group id, every episode logged with token ids, fingerprint and rewards."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from core.db.models import Run
from core.settings import load_settings
from core.trajectory import TrajectoryStore
from evals.api import EvalSession
from evals.rollouts import RolloutSpec, SuiteRollouts, score_run, start_collect
from evals.runner import EvalConfig
from evals.store import RUN_KIND
from model.training.rewards import RewardWeights

GSM8K_SAMPLE = Path(__file__).resolve().parents[2] / "evals" / "data" / "gsm8k_sample.jsonl"


def test_collect_runs_every_question_group_times_and_resumes(tmp_path, embedded_engine):
    settings = load_settings(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    spec = RolloutSpec(
        data=GSM8K_SAMPLE,
        split="test",
        group=3,
        limit=2,
        concurrency=6,
        benchmark="gsm8k",
        mode="direct",  # the plain model keeps this test fast; `train collect` runs the agent
        max_new_tokens=6,
    )
    with EvalSession(settings, engine=embedded_engine) as evals:
        run_id = start_collect(evals, spec)
        summary = evals.run(run_id)
        assert summary.num_examples == 6
        config = EvalConfig.from_run(summary.config)
        assert (config.kind, config.group, config.temperature) == ("collect", 3, 0.8)
        assert evals.execute(run_id) == 6
        assert evals.execute(run_id) == 0  # resumed: nothing left to do
        with evals.database.session() as session:
            assert session.scalar(select(Run.kind).where(Run.id == run_id)) == "collect"
        assert run_id not in {run.id for run in evals.runs()}  # `eval list` shows evals only
        assert RUN_KIND == "eval"
        results = evals.store.results(run_id)
        score = score_run(evals.database, run_id, RewardWeights())
        records = list(TrajectoryStore(evals.database).iter_records(run_id=run_id))
    assert sorted(r.example_id for r in results) == [
        f"{base}#{k}"
        for base in sorted({r.example_id.split("#")[0] for r in results})
        for k in range(3)
    ]
    groups = {}
    for record in records:
        groups.setdefault(record.extra["group_id"], []).append(record)
        turn = record.turns[0]
        assert turn.completion_ids and len(turn.logprobs) == len(turn.completion_ids)
        assert turn.tokenizer_fingerprint == embedded_engine.tokenizer_fingerprint
        assert {"outcome", "format", "grounding", "total"} <= set(record.reward_terms)
    assert sorted(len(members) for members in groups.values()) == [3, 3]
    assert score.num_episodes == 6 and 0.0 <= score.pass_rate <= 1.0


def test_an_evaluation_started_apart_resumes_its_own_run(tmp_path, huijin_cache_dir):
    """The benchmark records an evaluation's run id before executing it, so a killed stage
    resumes that run; executing it again solves nothing new."""
    settings = load_settings(data_dir=tmp_path, cache_dir=huijin_cache_dir)
    spec = RolloutSpec(
        data=GSM8K_SAMPLE, split="test", group=1, limit=2, temperature=0.0, benchmark="gsm8k"
    )
    rollouts = SuiteRollouts(
        settings, spec, replace(spec, max_new_tokens=4, mode="direct"), RewardWeights()
    )
    run_id = rollouts.start_evaluation(None)
    with EvalSession(settings) as evals:
        assert evals.store.results(run_id) == []
    first = rollouts.run_evaluation(None, run_id)
    again = rollouts.run_evaluation(None, run_id)
    assert first.run_id == again.run_id == run_id and first.num_episodes == 2 == again.num_episodes
    with EvalSession(settings) as evals:
        assert evals.execute(run_id) == 0

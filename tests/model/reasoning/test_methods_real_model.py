"""The baselines and the judge PRM end to end on the embedded model (few tokens, N = 2)."""

from __future__ import annotations

import pytest

from model.engine.types import SamplingParams
from model.reasoning import Method, load_prm, reason
from model.reasoning.judge_prm import JudgePRM, plus_probability
from model.reasoning.prm import Solution

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"


def test_every_baseline_runs_under_the_same_budget_and_counts_its_tokens(embedded_engine):
    verifier = load_prm("verifier")
    for method in (Method.GREEDY, Method.SC, Method.BON, Method.WEIGHTED):
        before = embedded_engine.stats.num_prefills, embedded_engine.stats.num_decode_tokens
        result = reason(
            embedded_engine,
            QUESTION,
            prm=verifier,
            method=method,
            num_samples=2,
            max_tokens=16,
            seed=0,
        )
        calls = embedded_engine.stats.num_prefills - before[0]
        generated = calls + embedded_engine.stats.num_decode_tokens - before[1]
        assert len(result.samples) == (1 if method is Method.GREEDY else 2)
        assert result.usage.num_calls == calls == len(result.samples)
        assert result.usage.generated_tokens == generated
        assert all(s.usage.generated_tokens <= 16 for s in result.samples)
        for sample in result.samples:
            assert sample.text.startswith("## Step 1: ")
            assert all(step.score is not None for step in sample.steps)
        assert result.num_rethinks == 0
        assert result.chosen_index is not None
        assert result.to_json()["usage"]["generated_tokens"] == generated


def test_seeded_sampling_is_reproducible(embedded_engine):
    runs = [
        reason(embedded_engine, QUESTION, method="sc", num_samples=2, max_tokens=12, seed=7)
        for _ in range(2)
    ]
    assert [s.text for s in runs[0].samples] == [s.text for s in runs[1].samples]


def test_plus_probability_reads_good_and_bad_tokens_from_top_logprobs():
    import math

    assert plus_probability(
        [{"+": math.log(0.6), " -": math.log(0.2), "x": math.log(0.1)}]
    ) == pytest.approx(0.75)
    assert plus_probability([{"Yes": math.log(0.3), "no": math.log(0.1)}]) == pytest.approx(0.75)
    assert plus_probability([{"The": -1.0}]) == 0.5
    assert plus_probability(None) == 0.5
    only_good = plus_probability([{"+": math.log(0.5), "a": math.log(0.1)}])
    assert only_good == pytest.approx(0.5 / 0.6)  # "-" is at most as likely as the least listed


def test_judge_prm_asks_the_engine_once_per_new_step(embedded_engine):
    judge = JudgePRM(embedded_engine)
    solution = Solution(
        QUESTION, ("## Step 1: 3 + 4 = 7", "Therefore, the final answer is: $\\boxed{7}$.")
    )
    (scores,) = judge.score([solution])
    assert len(scores) == 2 and all(0.0 < s < 1.0 for s in scores)
    assert judge.num_judge_calls == 2
    # Same as asking the engine directly with the judging prompt.
    direct = embedded_engine.chat(
        judge.judge_messages(QUESTION, "", solution.steps),
        params=SamplingParams(max_new_tokens=1, top_logprobs=20),
    )
    assert scores[1] == pytest.approx(plus_probability(direct.top_logprobs), abs=1e-4)
    # A path that grew by one step costs one more call; earlier steps come from the cache.
    longer = Solution(QUESTION, (*solution.steps, "So he has 7 apples."))
    assert judge.score([longer])[0][:2] == scores
    assert judge.num_judge_calls == 3

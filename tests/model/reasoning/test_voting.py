from __future__ import annotations

import pytest

from model.engine.types import FinishReason
from model.reasoning.config import Method, ReasoningConfig, Selection
from model.reasoning.policy import TokenUsage
from model.reasoning.reason import choose
from model.reasoning.result import Sample
from model.reasoning.voting import best_of_n, majority_vote, representative, weighted_vote


def test_majority_vote_counts_and_ignores_samples_without_an_answer():
    answer, votes = majority_vote(["72", None, "24", "72", None])
    assert answer == "72" and votes == {"72": 2.0, "24": 1.0}


def test_majority_tie_goes_to_the_answer_seen_first():
    assert majority_vote(["24", "72", "72", "24"])[0] == "24"
    assert majority_vote([None, None]) == (None, {})


def test_weighted_vote_sums_prm_scores_so_two_weak_votes_can_lose_to_one_strong():
    answer, votes = weighted_vote(["24", "24", "72"], [0.3, 0.3, 0.9])
    assert answer == "72"
    assert votes == {"24": 0.6, "72": 0.9}


def test_best_of_n_takes_the_first_of_equal_best_scores():
    assert best_of_n([0.2, 0.9, 0.9, 0.1]) == 1
    assert best_of_n([]) is None


def test_representative_is_the_best_scored_sample_giving_the_answer():
    answers = ["72", "24", "72"]
    assert representative(answers, "72", [0.5, 0.9, 0.7]) == 2
    assert representative(answers, "72", None) == 0
    assert representative(answers, None, None) is None


def _samples(answers, scores):
    return [
        Sample(i, "", [], a, s, TokenUsage(), FinishReason.STOP.value)
        for i, (a, s) in enumerate(zip(answers, scores, strict=True))
    ]


def test_each_method_applies_its_rule_to_the_same_samples():
    answers, scores = ["24", "24", "72"], [0.3, 0.4, 0.9]
    samples = _samples(answers, scores)
    # Majority picks "24" and shows its better-scored sample; weighting flips it to "72".
    assert choose(samples, ReasoningConfig(method=Method.SC))[:2] == (1, "24")
    assert choose(samples, ReasoningConfig(method=Method.BON))[:2] == (2, "72")
    assert choose(samples, ReasoningConfig(method=Method.WEIGHTED))[:2] == (2, "72")
    ar = ReasoningConfig(method=Method.AR, selection=Selection.MAJORITY)
    assert choose(samples, ar)[:2] == (1, "24")
    assert choose(samples, ReasoningConfig(method=Method.AR))[:2] == (2, "72")


def test_no_answer_anywhere_still_shows_a_sample():
    samples = _samples([None, None], [0.5, 0.4])
    assert choose(samples, ReasoningConfig(method=Method.SC)) == (0, None, {})


def test_reselect_applies_another_rule_or_fewer_samples_to_the_same_draw():
    from model.reasoning import ReasoningResult, reselect

    samples = _samples(["24", "24", "72", "72"], [0.3, 0.4, 0.9, 0.8])
    for sample in samples:
        sample.usage = TokenUsage(generated_tokens=10, prompt_tokens=100, num_calls=1)
    drawn = ReasoningResult(
        Method.SC, "q", "24", 1, samples, {}, "verifier", ReasoningConfig(method="sc")
    )
    assert reselect(drawn, "bon").answer == "72"
    first_two = reselect(drawn, "weighted", num_samples=2)
    assert first_two.answer == "24" and first_two.usage.generated_tokens == 20
    ar = ReasoningResult(Method.AR, "q", "72", 2, samples, {}, "verifier", ReasoningConfig())
    assert reselect(ar, "ar", selection="majority").answer == "24"
    with pytest.raises(ValueError, match="cannot stand in"):
        reselect(drawn, "ar")
    with pytest.raises(ValueError, match="only 4 samples"):
        reselect(drawn, "sc", num_samples=8)


def test_rescore_gives_the_same_samples_another_prms_scores_and_choice():
    from model.reasoning import ReasoningResult, load_prm, rescore, reselect
    from model.reasoning.result import Step

    texts = {"12": "## Step 1: 5 + 7 = 12\n\nThe answer is 12", "13": "## Step 1: 5 + 7 = 13"}
    samples = [
        Sample(i, texts[a], [Step(texts[a], 1)], a, None, TokenUsage(), FinishReason.STOP.value)
        for i, a in enumerate(["13", "13", "12"])
    ]
    config = ReasoningConfig(method="sc", num_samples=3)
    drawn = ReasoningResult(Method.SC, "5 + 7?", "13", 0, samples, {}, None, config)
    with pytest.raises(ValueError, match="needs PRM-scored samples"):
        reselect(drawn, "bon")
    scored = rescore(drawn, load_prm("verifier"))
    assert scored.prm_name == "verifier" and drawn.samples[0].score is None  # copies
    assert scored.samples[2].score > scored.samples[0].score  # the wrong sum scores lower
    assert reselect(scored, "sc").answer == "13" and reselect(scored, "bon").answer == "12"
    ar = ReasoningResult(Method.AR, "q", "12", 2, samples, {}, None, config)
    with pytest.raises(ValueError, match="depend on their PRM"):
        rescore(ar, load_prm("verifier"))

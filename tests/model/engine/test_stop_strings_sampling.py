"""Stop-string matching and per-row sampling, on plain tensors (no model needed)."""

from __future__ import annotations

import math

import pytest
import torch

from model.engine.sampling import RowSampler, sample_batch, shape_logits
from model.engine.stop_strings import StopStringMatcher
from model.engine.types import SamplingParams


def test_stop_found_across_growing_text() -> None:
    matcher = StopStringMatcher(["</answer>", "STOP"])
    text, checked = "", 0
    for piece in ["The value", " is 4</an", "swer> and more"]:
        text += piece
        cut = matcher.find(text, checked)
        checked = len(text)
        if cut is not None:
            break
    assert cut is not None and text[:cut] == "The value is 4"


def test_earliest_stop_wins_and_holdback() -> None:
    matcher = StopStringMatcher(["bc", "abcd"])
    assert matcher.find("xxabcd") == 2  # "abcd" starts before "bc"
    assert matcher.holdback("hello ab") == 2  # "ab" may still become "abcd"
    assert matcher.holdback("hello b") == 1
    assert matcher.holdback("hello") == 0
    assert not StopStringMatcher([""])


def test_top_k_and_top_p_mask_the_tail() -> None:
    logits = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0])
    top_k = shape_logits(logits, SamplingParams(temperature=1.0, top_k=2))
    assert torch.isfinite(top_k).tolist() == [True, True, False, False, False]
    probs = torch.softmax(logits, -1)
    top_p = shape_logits(logits, SamplingParams(temperature=1.0, top_p=float(probs[0]) + 0.01))
    assert torch.isfinite(top_p).tolist() == [True, True, False, False, False]
    only_first = shape_logits(logits, SamplingParams(temperature=1.0, top_p=0.01))
    assert torch.isfinite(only_first).sum() == 1


def _draw(seed: int, logits: torch.Tensor, num: int) -> list[int]:
    sampler = RowSampler.create(SamplingParams(temperature=1.0, seed=seed))
    return [sample_batch(logits[None], [sampler], [[]]).token_ids[0] for _ in range(num)]


def test_seeded_rows_are_independent_of_batch_neighbours() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 50)
    alone = _draw(7, logits[0], 10)
    pair = [RowSampler.create(SamplingParams(temperature=1.0, seed=s)) for s in (7, 99)]
    together = [sample_batch(logits, pair, [[], []]).token_ids[0] for _ in range(10)]
    assert together == alone
    assert _draw(8, logits[0], 10) != alone


def test_logprobs_are_raw_log_softmax_and_top_logprobs_sorted() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    params = SamplingParams(temperature=0.0, top_logprobs=3)
    out = sample_batch(logits, [RowSampler.create(params)], [[]])
    expected = torch.log_softmax(logits[0], -1)
    assert out.token_ids == [0]
    assert math.isclose(out.logprobs[0], float(expected[0]), rel_tol=1e-6)
    top = out.top_logprobs[0]
    assert top is not None and [i for i, _ in top] == [0, 1, 2]


def test_failing_logits_processor_fails_only_its_row() -> None:
    def broken(history: list[int], logits: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("grammar bug")

    def force_two(history: list[int], logits: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(logits, float("-inf"))
        forced[2] = 0.0
        return forced

    greedy = SamplingParams()
    samplers = [RowSampler.create(greedy, broken), RowSampler.create(greedy, force_two)]
    out = sample_batch(torch.zeros(2, 5), samplers, [[], []])
    assert isinstance(out.errors[0], RuntimeError) and out.errors[1] is None
    assert out.token_ids[1] == 2
    assert math.isclose(out.logprobs[1], math.log(1 / 5), rel_tol=1e-6)  # raw, not forced


def test_sampling_params_validation_messages() -> None:
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)

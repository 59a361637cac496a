"""The numerics against numbers computed by hand (written out in each test)."""

from __future__ import annotations

import math

import pytest
import torch

from model.training.objective import (
    ClipRange,
    group_advantages,
    grpo_loss,
    k3_kl,
    sft_loss,
    token_entropy,
    token_logprobs,
)

CLIP = ClipRange(low=0.2, high=0.2)


def hand_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # ratios 1.5, 0.5, 0.5, 1.5 against behaviour logprobs 0, with advantages +1, +1, -1, -1
    logprobs = torch.tensor([math.log(1.5), math.log(0.5), math.log(0.5), math.log(1.5)])
    return logprobs.requires_grad_(), torch.zeros(4), torch.tensor([1.0, 1.0, -1.0, -1.0])


def test_clipped_objective_matches_the_hand_computed_case():
    logprobs, behaviour, advantages = hand_case()
    loss, stats = grpo_loss(logprobs, behaviour, advantages, step_num_tokens=4, clip=CLIP)
    # token 0: min(1.5*1, 1.2*1) = 1.2 (clipped)      token 1: min(0.5, 0.8) = 0.5
    # token 2: min(-0.5, -0.8) = -0.8 (clipped)       token 3: min(-1.5, -1.2) = -1.5
    # loss = -(1.2 + 0.5 - 0.8 - 1.5) / 4 = 0.15
    assert loss.item() == pytest.approx(0.15, abs=1e-6)
    loss.backward()
    # d loss / d logprob = -ratio * A / 4 where the ratio decides, 0 where the clip does
    assert logprobs.grad.tolist() == pytest.approx([0.0, -0.125, 0.0, 0.375], abs=1e-6)
    assert stats.clipped == 2 and stats.num_tokens == 4
    assert stats.ratio == pytest.approx(1.5 + 0.5 + 0.5 + 1.5)


def test_kl_term_adds_beta_times_k3_per_token():
    logprobs, behaviour, advantages = hand_case()
    ref = logprobs.detach() + math.log(2.0)  # ref - lp = ln 2 on every token
    loss, stats = grpo_loss(
        logprobs, behaviour, advantages, step_num_tokens=4, clip=CLIP, kl_beta=0.1, ref_logprobs=ref
    )
    # k3 = e^{ln 2} - ln 2 - 1 = 0.306853 per token; loss = 0.15 + 0.1 * 0.306853
    assert loss.item() == pytest.approx(0.15 + 0.1 * 0.306853, abs=1e-6)
    assert stats.kl == pytest.approx(4 * 0.306853, abs=1e-5)
    loss.backward()
    # the KL gradient per token is beta * (1 - e^{ref - lp}) / 4 = 0.1 * (1 - 2) / 4 = -0.025
    assert logprobs.grad.tolist() == pytest.approx([-0.025, -0.15, -0.025, 0.35], abs=1e-6)


def test_kl_without_reference_is_refused():
    logprobs, behaviour, advantages = hand_case()
    with pytest.raises(ValueError, match="reference"):
        grpo_loss(logprobs, behaviour, advantages, 4, CLIP, kl_beta=0.1)


def test_k3_is_zero_at_the_reference_and_positive_elsewhere():
    lp = torch.tensor([-1.0, -2.0, -0.5])
    assert k3_kl(lp, lp).abs().max().item() == 0.0
    assert (k3_kl(lp, lp + torch.tensor([0.3, -0.3, 1.0])) > 0).all()


def test_advantages_by_hand():
    rewards = [1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 2.0]
    groups = ["a", "a", "a", "a", "b", "b", "c"]
    # group a: mean 0.25, sample std sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5
    # group b: all equal -> 0; group c: alone -> 0
    scaled = group_advantages(rewards, groups, scale_by_std=True, eps=1e-4)
    assert scaled == pytest.approx(
        [0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, 0.0, 0.0, 0.0], abs=1e-9
    )
    centred = group_advantages(rewards, groups, scale_by_std=False)
    assert centred == pytest.approx([0.75, -0.25, -0.25, -0.25, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError):
        group_advantages([1.0], ["a", "b"])


def test_token_logprobs_and_entropy_match_log_softmax():
    torch.manual_seed(0)
    logits = torch.randn(5, 11)
    targets = torch.tensor([0, 3, 10, 7, 7])
    expected = torch.log_softmax(logits, -1).gather(-1, targets[:, None]).squeeze(-1)
    torch.testing.assert_close(token_logprobs(logits, targets), expected)
    probs = torch.softmax(logits, -1)
    torch.testing.assert_close(token_entropy(logits), -(probs * probs.log()).sum(-1))


def test_sft_loss_is_the_token_mean_nll_of_the_step():
    logprobs = torch.tensor([-1.0, -2.0, -3.0])
    loss, stats = sft_loss(
        logprobs, step_num_tokens=6
    )  # the other 3 tokens are in another micro-batch
    assert loss.item() == pytest.approx(1.0)
    assert stats.num_tokens == 3

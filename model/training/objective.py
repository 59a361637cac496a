"""The numerics: group-relative advantages, the PPO-clipped GRPO loss with a KL penalty, the SFT
loss, and per-token log-probabilities and entropies.

Conventions (TRL's GRPO trainer uses the same ones, so numbers compare):
- advantage of an episode = (r - mean of its group) / (std of its group + eps), std the sample
  (n - 1) standard deviation; `scale_by_std=False` keeps r - mean (Dr. GRPO). A group of one has
  nothing to compare with: its advantage is 0. Every completion token of the episode gets it.
- ratio = exp(log p_theta - log p_behaviour) per token, against the logprobs logged when the episode
  was sampled (raw-logit log-softmax, as the engine logs them), so slightly stale logged episodes
  are usable: the clip stops the gradient of tokens whose ratio left [1 - eps_low, 1 + eps_high]
  in the direction the advantage pushes.
- KL to the frozen reference policy with the k3 estimator, exp(ref - lp) - (ref - lp) - 1: >= 0,
  unbiased, low variance (Schulman 2020; DeepSeekMath's GRPO).
- Aggregation is a token-level mean over every completion token of the optimizer step (DAPO,
  TRL's loss_type="dapo"): each micro-batch's sum is divided by the step's total token count, so
  gradient accumulation gives the same gradient as one big batch, and every model-written token
  weighs the same whatever the length of its episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


def group_advantages(
    rewards: Sequence[float], group_ids: Sequence[str], scale_by_std: bool = True, eps: float = 1e-4
) -> list[float]:
    """One advantage per episode, relative to the other episodes of its group."""
    if len(rewards) != len(group_ids):
        raise ValueError(f"{len(rewards)} rewards for {len(group_ids)} group ids")
    values = torch.tensor(list(rewards), dtype=torch.float64)
    advantages = torch.zeros_like(values)
    members: dict[str, list[int]] = {}
    for index, group in enumerate(group_ids):
        members.setdefault(group, []).append(index)
    for indices in members.values():
        if len(indices) < 2:
            continue  # nothing to compare with: advantage 0
        group = values[indices]
        centred = group - group.mean()
        advantages[indices] = centred / (group.std() + eps) if scale_by_std else centred
    return advantages.tolist()


def token_logprobs(logits: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] per position, in float32: (..., vocab), (...) -> (...).

    Computed as logit[target] - logsumexp(logits), which never materialises the full
    log-softmax (the trick behind TRL's selective_log_softmax)."""
    logits = logits.float()
    picked = logits.gather(-1, target_ids.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


@torch.no_grad()
def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution per position: (..., vocab) -> (...)."""
    logits = logits.float()
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return -(log_probs.exp() * log_probs).sum(-1)


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi_theta || pi_ref) estimate exp(ref - lp) - (ref - lp) - 1 (always >= 0)."""
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1.0


@dataclass(frozen=True)
class ClipRange:
    low: float = 0.2
    high: float = 0.2


@dataclass
class LossStats:
    """Sums over the completion tokens of a micro-batch (divide by num_tokens for means)."""

    num_tokens: float = 0.0
    kl: float = 0.0
    clipped: float = 0.0
    ratio: float = 0.0
    policy_term: float = 0.0

    def add(self, other: LossStats) -> None:
        self.num_tokens += other.num_tokens
        self.kl += other.kl
        self.clipped += other.clipped
        self.ratio += other.ratio
        self.policy_term += other.policy_term


def grpo_loss(
    logprobs: torch.Tensor,
    behaviour_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    step_num_tokens: float,
    clip: ClipRange,
    kl_beta: float = 0.0,
    ref_logprobs: torch.Tensor | None = None,
) -> tuple[torch.Tensor, LossStats]:
    """The micro-batch's share of the step loss; every tensor is (num_completion_tokens,).

    Only completion tokens are passed in (context tokens were never gathered), so nothing the
    model did not write can carry gradient. The returned loss is the sum of per-token losses
    divided by `step_num_tokens`, the completion tokens of the whole optimizer step.
    """
    ratio = torch.exp(logprobs - behaviour_logprobs)
    clipped_ratio = torch.clamp(ratio, 1.0 - clip.low, 1.0 + clip.high)
    # PPO's pessimistic bound: the smaller objective of the raw and the clipped ratio.
    objective = torch.minimum(ratio * advantages, clipped_ratio * advantages)
    per_token = -objective
    kl = torch.zeros_like(logprobs)
    if kl_beta > 0:
        if ref_logprobs is None:
            raise ValueError("kl_beta > 0 needs the reference policy's logprobs")
        kl = k3_kl(logprobs, ref_logprobs)
        per_token = per_token + kl_beta * kl
    loss = per_token.sum() / step_num_tokens
    with torch.no_grad():
        # A token is clipped when the clip, not the ratio, decided its objective (no gradient).
        is_clipped = ((ratio < 1.0 - clip.low) & (advantages < 0)) | (
            (ratio > 1.0 + clip.high) & (advantages > 0)
        )
        stats = LossStats(
            num_tokens=float(logprobs.numel()),
            kl=float(kl.sum()),
            clipped=float(is_clipped.sum()),
            ratio=float(ratio.sum()),
            policy_term=float(-objective.sum()),
        )
    return loss, stats


def sft_loss(logprobs: torch.Tensor, step_num_tokens: float) -> tuple[torch.Tensor, LossStats]:
    """Negative log-likelihood of the completion tokens, token-level mean over the step."""
    total = logprobs.sum()
    loss = -total / step_num_tokens
    return loss, LossStats(num_tokens=float(logprobs.numel()), policy_term=-total.item())

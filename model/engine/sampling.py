"""Choosing the next token of every sequence in a batch, and the logprobs we report for it.

Each row samples with its own `torch.Generator`, so a seeded request draws the same random numbers
whether it runs alone or beside fifteen others. Logprobs are always the log-softmax of the raw
logits (before temperature, top-k/top-p or a logits processor): that is the model's own
probability of the token, which is what RL needs; the shaping only decides which token is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from model.engine.types import SamplingParams

# A per-request hook on the next-token logits, e.g. a grammar mask for constrained tool calls:
# (completion ids so far, logits (vocab,)) -> logits (vocab,). Runs on the scheduler thread.
LogitsProcessor = Callable[[list[int], torch.Tensor], torch.Tensor]


@dataclass
class RowSampler:
    """Everything that decides one request's next token, besides the logits themselves."""

    params: SamplingParams
    generator: torch.Generator | None = None
    logits_processor: LogitsProcessor | None = None

    @classmethod
    def create(
        cls, params: SamplingParams, logits_processor: LogitsProcessor | None = None
    ) -> RowSampler:
        """A sampler with a fresh generator: seeded if asked, otherwise from OS entropy."""
        generator = None
        if not params.is_greedy:
            generator = torch.Generator()
            if params.seed is None:
                generator.seed()
            else:
                generator.manual_seed(params.seed)
        return cls(params=params, generator=generator, logits_processor=logits_processor)


@dataclass
class SampledTokens:
    """One step's choice for every row: token ids, their logprobs, optional top alternatives."""

    token_ids: list[int]
    logprobs: list[float]
    top_logprobs: list[list[tuple[int, float]] | None] = field(default_factory=list)
    # A row whose logits processor raised gets its exception here (and token id -1), so one bad
    # request fails alone instead of taking the batch down.
    errors: list[BaseException | None] = field(default_factory=list)


def shape_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Temperature, then top-k, then top-p (nucleus), on one row (vocab,); masked entries -inf."""
    logits = logits / params.temperature
    if 0 < params.top_k < logits.shape[-1]:
        kth = torch.topk(logits, params.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the tokens strictly more likely than it already cover top_p;
        # the most likely token is therefore always kept.
        drop = (torch.cumsum(probs, dim=-1) - probs) > params.top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return logits


def _choose(
    logits: torch.Tensor,
    sampler: RowSampler,
    history: list[int],
    errors: list[BaseException | None],
    row: int,
) -> int:
    """One row's token: logits processor, then argmax or a draw from its own generator."""
    if sampler.logits_processor is not None:
        try:
            logits = sampler.logits_processor(history, logits.clone())
        except Exception as exc:
            errors[row] = exc
            return -1
    if sampler.params.is_greedy:
        return int(torch.argmax(logits))
    probs = torch.softmax(shape_logits(logits, sampler.params), dim=-1)
    return int(torch.multinomial(probs, 1, generator=sampler.generator))


def sample_batch(
    logits: torch.Tensor,
    samplers: Sequence[RowSampler],
    histories: Sequence[list[int]],
) -> SampledTokens:
    """Pick the next token for each row of `logits` (batch, vocab), raw model output.

    `histories[i]` is row i's completion ids so far (what a logits processor conditions on).
    """
    logits = logits.float()
    errors: list[BaseException | None] = [None] * len(samplers)
    if all(s.params.is_greedy and s.logits_processor is None for s in samplers):
        token_ids = logits.argmax(dim=-1).tolist()  # the common case, in one call
    else:
        # Generators and logits processors (grammar masks) live on the CPU, so a seeded request
        # draws the same numbers on every device, for one (batch, vocab) device-to-host copy a step.
        rows = logits.cpu()
        token_ids = [
            _choose(rows[row], s, histories[row], errors, row) for row, s in enumerate(samplers)
        ]

    if not any(s.params.logprobs or s.params.top_logprobs for s in samplers):
        return SampledTokens(token_ids, [math.nan] * len(samplers), [None] * len(samplers), errors)
    logprobs_all = torch.log_softmax(logits, dim=-1)  # (batch, vocab)
    chosen = torch.tensor(token_ids, dtype=torch.long, device=logits.device).clamp(min=0)
    logprobs = logprobs_all.gather(1, chosen[:, None]).squeeze(1).tolist()
    top: list[list[tuple[int, float]] | None] = [None] * len(samplers)
    num_top = max(s.params.top_logprobs for s in samplers)
    if num_top:
        values, indices = torch.topk(logprobs_all, num_top, dim=-1)
        for row, sampler in enumerate(samplers):
            k = sampler.params.top_logprobs
            if k:
                top[row] = list(
                    zip(indices[row, :k].tolist(), values[row, :k].tolist(), strict=True)
                )
    return SampledTokens(token_ids=token_ids, logprobs=logprobs, top_logprobs=top, errors=errors)

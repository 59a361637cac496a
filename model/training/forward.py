"""Samples -> padded tensors -> the policy's log-probabilities of the completion tokens only.

Position p of a sequence predicts token p + 1, so the positions kept are those whose next token
the model wrote. Only their hidden states go through the LM head (`logits_to_keep` with a boolean
(batch, tokens) mask): a 1.5k-token agent prompt with a 50-token tool call costs the body's
forward, not 1.5k vocabulary-wide logit rows. Every per-token tensor handed to the loss is flat,
(num_completion_tokens,), in the row-major order of the kept positions, which is each sample's
completion tokens in sequence order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from model.training.samples import Sample


@dataclass
class Batch:
    input_ids: torch.Tensor  # (batch, tokens), right-padded
    attention_mask: torch.Tensor  # (batch, tokens)
    keep: torch.Tensor  # (batch, tokens) bool: the next token is a completion token
    target_ids: torch.Tensor  # (num_completion_tokens,)
    behaviour_logprobs: torch.Tensor  # (num_completion_tokens,)
    advantages: torch.Tensor  # (num_completion_tokens,)
    ref_logprobs: torch.Tensor | None  # (num_completion_tokens,) or None without a KL term

    @property
    def num_tokens(self) -> int:
        return int(self.target_ids.numel())

    def to(self, device: torch.device | str) -> Batch:
        moved = {
            name: (value.to(device) if isinstance(value, torch.Tensor) else value)
            for name, value in self.__dict__.items()
        }
        return Batch(**moved)


def collate(
    samples: Sequence[Sample],
    pad_id: int,
    ref_logprobs: Sequence[torch.Tensor] | None = None,
) -> Batch:
    """Pad `samples` to one (batch, tokens) block; gather their per-token training targets."""
    length = max(len(sample) for sample in samples)
    shape = (len(samples), length)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    attention = torch.zeros(shape, dtype=torch.long)
    keep = torch.zeros(shape, dtype=torch.bool)
    behaviour = torch.zeros(shape, dtype=torch.float32)
    advantages = torch.zeros(shape, dtype=torch.float32)
    for row, sample in enumerate(samples):
        n = len(sample)
        assert not sample.completion_mask[0], "a sequence cannot start with a completion token"
        input_ids[row, :n] = torch.tensor(sample.input_ids)
        attention[row, :n] = 1
        # Shift left by one: position p is kept when token p + 1 is model-written.
        keep[row, : n - 1] = torch.tensor(sample.completion_mask[1:])
        behaviour[row, : n - 1] = torch.tensor(sample.behaviour_logprobs[1:])
        advantages[row, : n - 1] = sample.advantage
    targets = torch.full(shape, pad_id, dtype=torch.long)
    targets[:, :-1] = input_ids[:, 1:]
    reference = torch.cat([ref.float() for ref in ref_logprobs]) if ref_logprobs else None
    batch = Batch(
        input_ids=input_ids,
        attention_mask=attention,
        keep=keep,
        target_ids=targets[keep],
        behaviour_logprobs=behaviour[keep],
        advantages=advantages[keep],
        ref_logprobs=reference,
    )
    if reference is not None and reference.numel() != batch.num_tokens:
        raise ValueError("reference logprobs do not match the batch's completion tokens")
    return batch


def completion_logits(model: Any, batch: Batch) -> torch.Tensor:
    """(num_completion_tokens, vocab) logits at the kept positions, in the model's dtype.

    The LM head runs only from the first kept position on (an int `logits_to_keep`, which every
    transformers release since 4.45 takes; a boolean mask is newer), so a long prompt costs no
    (prompt, vocab) logits.
    """
    kept_columns = batch.keep.any(dim=0).nonzero()
    first = int(kept_columns[0]) if len(kept_columns) else batch.keep.shape[1] - 1
    trailing = batch.keep.shape[1] - first
    output = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        logits_to_keep=trailing,
        use_cache=False,
    )
    logits = output.logits
    # A model that ignores logits_to_keep returns every position.
    keep = batch.keep if logits.shape[1] == batch.keep.shape[1] else batch.keep[:, -trailing:]
    return logits[keep]

"""The only code that runs the model: prefill one prompt, decode one step for a whole batch.

A running batch is a `DecodeBatch`: one KV cache for all rows, left-padded, with a 2-D attention
mask (1 = real token) and each row's next position id. Rows are prompts of different lengths that
joined at different times, so positions are per row and never derived from the cache length.

Prompts arriving together are prefilled together (left-padded when their lengths differ), then
merged into the running batch; a finished row is selected out. The scheduler decides when;
this module only does the tensor work, under `torch.inference_mode`, on the scheduler thread.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import Cache

from model.engine.fast_decode import FastDecoder
from model.engine.kv_cache import KVCacheKind, LayerKV, merge_caches, select_rows
from model.engine.prefix_cache import PrefixCache, common_prefix_length

SHARED_PREFILL_MIN_TOKENS = 64
"""Prompts of one prefill call that begin with this many tokens in common run them once."""


@dataclass
class DecodeBatch:
    """The KV state of the rows currently decoding, in scheduler order."""

    cache: Cache
    attention_mask: torch.Tensor  # (batch, kv_tokens), 1 = real token, 0 = left padding
    positions: torch.Tensor  # (batch,) position id of each row's next input token

    @property
    def size(self) -> int:
        return int(self.attention_mask.shape[0])

    @property
    def is_padded(self) -> bool:
        return not bool(self.attention_mask.all())


class ModelRunner:
    """Owns the model and its caches; all forward passes go through `_forward`."""

    def __init__(
        self,
        model: Any,
        kv_cache: KVCacheKind,
        device: str = "cpu",
        fast_decode: bool = False,
        packed_batch_weights: bool = False,
        decode_weights: str = "float32",
        int8_cache: Path | None = None,
        prefix_cache_bytes: int = 0,
        share_batch_prefixes: bool = True,
    ) -> None:
        self.model = model
        self.kv_cache = kv_cache
        self.device = torch.device(device)
        self.model_config = model.config
        # transformers 5 renamed `past_key_values` to `cache`; accept either generation.
        params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        # The speed layer: decode steps through a fused hand-written forward (prefill always
        # takes the transformers path, which stays the reference).
        self.fast_decoder = (
            FastDecoder(model, packed_batch_weights, decode_weights, int8_cache)
            if fast_decode
            else None
        )
        # Prompts that begin like a recent one prefill only their new tokens (prefix_cache.py).
        self.prefix_cache = (
            PrefixCache(prefix_cache_bytes)
            if prefix_cache_bytes > 0 and kv_cache.reuses_prefixes
            else None
        )
        # Prompts that arrive together and begin alike (G rollouts of one question, a judge's
        # prompts for each step of one solution) prefill the shared part once (prefill_many).
        self.share_batch_prefixes = share_batch_prefixes

    def prefill(self, prompt_ids: Sequence[int]) -> tuple[torch.Tensor, DecodeBatch]:
        """Run one prompt; return the logits (vocab,) for its next token and its 1-row batch."""
        logits, batch = self.prefill_many([prompt_ids])
        return logits[0], batch

    @torch.inference_mode()
    def prefill_many(self, prompts: Sequence[Sequence[int]]) -> tuple[torch.Tensor, DecodeBatch]:
        """Next-token logits (rows, vocab) of `prompts` and their batch, rows in order.

        Prompts that share a stored prefix (the prefix cache) run only their new tokens, one by
        one. Misses that begin alike run one at a time, each stored before the next, so the next
        one finds the shared part in the cache; the other misses share one left-padded forward.
        Every prompt's KV is stored for the prompts after it.
        """
        if self.prefix_cache is None:
            return self._prefill_padded(prompts)
        matches = [self.prefix_cache.match(prompt) for prompt in prompts]
        misses = [row for row, (length, _) in enumerate(matches) if not length]
        chained = _alike(prompts, misses) if self.share_batch_prefixes else []
        parts: list[tuple[list[int], torch.Tensor, DecodeBatch]] = []
        if alone := [row for row in misses if row not in chained]:
            logits, batch = self._prefill_padded([prompts[row] for row in alone])
            self._remember([prompts[row] for row in alone], batch)
            parts.append((alone, logits, batch))
        for row in chained:
            length, layers = self.prefix_cache.match(prompts[row], new_lookup=False)
            if length and layers is not None:
                logits, batch = self._prefill_after(prompts[row], length, layers)
            else:
                logits, batch = self._prefill_padded([prompts[row]])
            self._remember([prompts[row]], batch)
            parts.append(([row], logits, batch))
        for row, (length, layers) in enumerate(matches):
            if length and layers is not None:
                logits, batch = self._prefill_after(prompts[row], length, layers)
                self._remember([prompts[row]], batch)
                parts.append(([row], logits, batch))
        if len(parts) == 1:
            return parts[0][1], parts[0][2]
        order = [row for rows, _, _ in parts for row in rows]
        slot = {row: index for index, row in enumerate(order)}
        permutation = [slot[row] for row in range(len(prompts))]
        logits = torch.cat([logits for _, logits, _ in parts])[permutation]
        return logits, self.select(self.merge([batch for _, _, batch in parts]), permutation)

    def _prefill_after(
        self, prompt: Sequence[int], length: int, prefix: list[LayerKV]
    ) -> tuple[torch.Tensor, DecodeBatch]:
        """One prompt whose first `length` tokens' KV is known: run only the rest."""
        cache = self.kv_cache.build(self.model_config, prefix, room=len(prompt) - length)
        input_ids = torch.tensor([list(prompt[length:])], dtype=torch.long, device=self.device)
        positions = torch.arange(length, len(prompt), device=self.device)[None]
        logits = self._forward(input_ids, None, positions, cache)
        mask = torch.ones((1, len(prompt)), dtype=torch.long, device=self.device)
        lengths = torch.tensor([len(prompt)], dtype=torch.long, device=self.device)
        return logits, DecodeBatch(cache=cache, attention_mask=mask, positions=lengths)

    def _remember(self, prompts: Sequence[Sequence[int]], batch: DecodeBatch) -> None:
        """Store each just-prefilled row's prompt KV (its real tokens, not the left padding)."""
        assert self.prefix_cache is not None
        layers = self.kv_cache.tensors(batch.cache)
        width = batch.attention_mask.shape[1]
        for row, prompt in enumerate(prompts):
            start = width - len(prompt)
            self.prefix_cache.store(
                prompt,
                [(k[row : row + 1, :, start:], v[row : row + 1, :, start:]) for k, v in layers],
            )

    def _prefill_padded(self, prompts: Sequence[Sequence[int]]) -> tuple[torch.Tensor, DecodeBatch]:
        """Run prompts in one left-padded forward.

        One prompt runs unpadded (its logits are exactly a solo run's). Several share one forward:
        a few large matmuls are much faster on CPU than many small ones, and the padding is
        masked, so each row matches its solo run up to float rounding.
        """
        longest = max(len(p) for p in prompts)
        # Pad with each row's own first token: any real id works, the mask hides it.
        rows = [[p[0]] * (longest - len(p)) + list(p) for p in prompts]
        input_ids = torch.tensor(rows, dtype=torch.long, device=self.device)  # (rows, tokens)
        mask = torch.tensor(
            [[0] * (longest - len(p)) + [1] * len(p) for p in prompts],
            dtype=torch.long,
            device=self.device,
        )
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)  # pads get 0; they are never attended
        cache = self.kv_cache.new(self.model_config)
        is_padded = any(len(p) < longest for p in prompts)
        logits = self._forward(input_ids, mask if is_padded else None, positions, cache)
        lengths = torch.tensor([len(p) for p in prompts], dtype=torch.long, device=self.device)
        return logits, DecodeBatch(cache=cache, attention_mask=mask, positions=lengths)

    @torch.inference_mode()
    def decode(self, batch: DecodeBatch, token_ids: Sequence[int]) -> torch.Tensor:
        """Feed one token per row; return next-token logits (batch, vocab). Updates `batch`."""
        input_ids = torch.tensor(token_ids, dtype=torch.long, device=self.device)[:, None]
        ones = torch.ones((batch.size, 1), dtype=batch.attention_mask.dtype, device=self.device)
        batch.attention_mask = torch.cat([batch.attention_mask, ones], dim=1)
        # Without padding the causal mask is implied; passing None lets attention skip the mask.
        mask = batch.attention_mask if batch.is_padded else None
        step = self.fast_decoder or self._forward
        logits = step(input_ids, mask, batch.positions[:, None], batch.cache)
        batch.positions = batch.positions + 1
        return logits

    @torch.inference_mode()
    def merge(self, batches: Sequence[DecodeBatch]) -> DecodeBatch:
        """One batch holding the rows of `batches` in order (shorter ones left-padded)."""
        if len(batches) == 1:
            return batches[0]
        cache, mask = merge_caches(
            self.kv_cache, self.model_config, [(b.cache, b.attention_mask) for b in batches]
        )
        positions = torch.cat([b.positions for b in batches])
        return DecodeBatch(cache=cache, attention_mask=mask, positions=positions)

    @torch.inference_mode()
    def select(self, batch: DecodeBatch, rows: Sequence[int]) -> DecodeBatch:
        """A batch with only `rows` of `batch`, in that order."""
        cache, mask = select_rows(
            self.kv_cache, self.model_config, batch.cache, batch.attention_mask, rows
        )
        index = torch.tensor(list(rows), dtype=torch.long, device=self.device)
        return DecodeBatch(cache=cache, attention_mask=mask, positions=batch.positions[index])

    def _forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        cache: Cache,
    ) -> torch.Tensor:
        """Logits (batch, vocab) at the last input position; the cache is updated in place."""
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_kwarg: cache},
        )
        return out.logits[:, -1, :]


def _alike(prompts: Sequence[Sequence[int]], rows: Sequence[int]) -> list[int]:
    """The `rows` whose prompt begins like another's for SHARED_PREFILL_MIN_TOKENS tokens, in
    lexicographic order: there each prompt's longest shared start is with its predecessor,
    which is prefilled (and stored) just before it."""
    order = sorted(rows, key=lambda row: list(prompts[row]))
    alike: set[int] = set()
    for first, second in itertools.pairwise(order):
        shared = common_prefix_length(
            torch.tensor(list(prompts[first])), torch.tensor(list(prompts[second]))
        )
        if shared >= SHARED_PREFILL_MIN_TOKENS:
            alike.update((first, second))
    return [row for row in order if row in alike]

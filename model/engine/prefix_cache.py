"""Prefix reuse: recently prefilled prompts' keys and values, so a prompt that begins like one of
them prefills only its new tokens.

An agent's every step re-sends the whole conversation (system prompt, tool schemas, the filing
page, earlier turns) with a few hundred new tokens at the end, and every episode of an eval starts
with the same system prompt and tools; AR-Sampling re-sends the question and the steps so far.
Prefill of those thousands of tokens was most of an agent step's time on a CPU. Keys and values
of a token depend only on the tokens up to it (causal attention), so the KV of the longest common
prefix with any stored prompt is exact to reuse; only the rest runs through the model.

Entries are kept in least-recently-used order under a byte budget; each holds one prompt's token
ids and its (1, kv_heads, tokens, head_dim) keys and values per layer, as their own copies (the
batch's buffers keep changing). Only dense caches qualify (the quantized NQKV caches do not
round-trip through dense tensors).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model.engine.kv_cache import LayerKV

MIN_REUSE_TOKENS = 16
"""Shorter shared prefixes are not worth a lookup and a copy."""


@dataclass
class _Entry:
    tokens: torch.Tensor  # (tokens,) int64
    layers: list[LayerKV]  # (1, kv_heads, tokens, head_dim) each
    nbytes: int


@dataclass
class PrefixStats:
    """How much prefill the cache saved (reported by the engine's info())."""

    lookups: int = 0
    hits: int = 0
    reused_tokens: int = 0
    prompt_tokens: int = 0


class PrefixCache:
    """Stored prompts' KV by token ids; `match` finds the longest reusable prefix."""

    def __init__(self, max_bytes: int, min_tokens: int = MIN_REUSE_TOKENS) -> None:
        if max_bytes <= 0:
            raise ValueError("a prefix cache needs a positive byte budget")
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._next_key = 0
        self.nbytes = 0
        self.stats = PrefixStats()

    def __len__(self) -> int:
        return len(self._entries)

    def match(
        self, prompt: Sequence[int], new_lookup: bool = True
    ) -> tuple[int, list[LayerKV] | None]:
        """(length, per-layer KV views of that length) of the longest stored prefix of `prompt`,
        leaving at least its last token to run (its logits are the answer); (0, None) if none
        reaches `min_tokens`. `new_lookup=False`: the prompt was already looked up (and
        counted) in this prefill; only a hit is counted."""
        if new_lookup:
            self.stats.lookups += 1
            self.stats.prompt_tokens += len(prompt)
        if not self._entries or len(prompt) <= self.min_tokens:
            return 0, None
        ids = torch.tensor(list(prompt), dtype=torch.long)
        best_key, best_length = -1, 0
        for key, entry in self._entries.items():
            length = common_prefix_length(entry.tokens, ids)
            if length > best_length:
                best_key, best_length = key, length
        best_length = min(best_length, len(prompt) - 1)
        if best_length < self.min_tokens:
            return 0, None
        self._entries.move_to_end(best_key)
        entry = self._entries[best_key]
        self.stats.hits += 1
        self.stats.reused_tokens += best_length
        return best_length, [
            (k[:, :, :best_length], v[:, :, :best_length]) for k, v in entry.layers
        ]

    def store(self, prompt: Sequence[int], layers: Sequence[LayerKV]) -> None:
        """Keep a copy of `prompt`'s KV (each (1, kv_heads, len(prompt), head_dim)); evicts the
        least recently used entries to stay under the budget. A prompt already covered by a
        stored one is not stored again."""
        if len(prompt) < self.min_tokens:
            return
        ids = torch.tensor(list(prompt), dtype=torch.long)
        for key, entry in list(self._entries.items()):
            length = common_prefix_length(entry.tokens, ids)
            if length == len(ids):  # this prompt is a prefix of a stored one
                self._entries.move_to_end(key)
                return
            if length == len(entry.tokens):  # a stored prompt is a prefix of this one
                self._drop(key)
        copies = [(k.detach().clone(), v.detach().clone()) for k, v in layers]
        nbytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in copies)
        if nbytes > self.max_bytes:
            return
        while self.nbytes + nbytes > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[self._next_key] = _Entry(ids, copies, nbytes)
        self._next_key += 1
        self.nbytes += nbytes

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0

    def _drop(self, key: int) -> None:
        self.nbytes -= self._entries.pop(key).nbytes


def common_prefix_length(a: torch.Tensor, b: torch.Tensor) -> int:
    """Length of the longest common prefix of two 1-D id tensors."""
    n = min(len(a), len(b))
    differ = (a[:n] != b[:n]).nonzero()
    return int(differ[0]) if len(differ) else n

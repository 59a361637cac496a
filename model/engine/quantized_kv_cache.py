"""NQKV's quantized cache as an engine KV-cache kind: what `kv_cache="nqkv4"` (or 2/3) selects.

The runner and the fused decode step only call `Cache.update`, so an `NQKVCache` (packed codes +
fp16 scales, dequantized on read; see model/nqkv/cache.py) serves both the plain transformers
path and `fast_decode` unchanged. What continuous batching adds is the merge/select seam of
kv_cache.py: `tensors` reads every layer back as full tensors (the quantized body dequantized) and
`build` stores them again, each token landing where its distance from the end puts it (body or
full-precision tail), exactly as when it was first decoded.

Re-storing a dequantized token is exact for the engine's blocks (channel-grouped, absmax scale):
a block's largest element decodes to exactly +-scale, so quantizing the decoded block finds the
same fp16 scale and the same codes. Left padding added by a merge is zeros, which the codebook's
exact zero stores as zeros, and the attention mask hides them anyway. One limit: sink tokens are
the first `kv_sink_tokens` columns of the batch, so a row that joined left-padded has padding, not
its own first tokens, in the sink slots (default 0 sinks, so this only matters when set).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import Cache

from model.engine.kv_cache import KVCacheKind, LayerKV


class NQKVCacheKind(KVCacheKind):
    """Caches of `NQKVCache` with one fixed `NQKVConfig`."""

    def __init__(
        self, bits: int, block_size: int = 64, residual_tokens: int = 128, sink_tokens: int = 0
    ) -> None:
        from model.nqkv import NQKVConfig  # lazy: the fp16 path never imports NQKV

        self.name = f"nqkv{bits}"
        self.config = NQKVConfig(
            bits=bits,
            block_size=block_size,
            residual_tokens=residual_tokens,
            num_sink_tokens=sink_tokens,
        )

    def check(self, model_config: Any) -> None:
        """Raise ValueError (saying what to set) when the config does not fit this model."""
        self.new(model_config)

    def new(self, model_config: Any) -> Cache:
        from model.nqkv import NQKVCache

        return NQKVCache(self.config, model_config)

    def tensors(self, cache: Cache) -> list[LayerKV]:
        return cache.dense_tensors()  # type: ignore[attr-defined]

    def build(self, model_config: Any, tensors: Sequence[LayerKV]) -> Cache:
        from model.nqkv.cache import NQKVLayer

        cache = self.new(model_config)
        for layer, (keys, values) in zip(cache.layers, tensors, strict=True):
            if isinstance(layer, NQKVLayer):
                layer.store(keys, values)  # no attention output wanted: skip the dense read
            else:  # a full-precision sliding-window layer (gemma-3)
                layer.update(keys, values)
        return cache

    def nbytes(self, cache: Cache) -> int:
        return int(cache.nbytes())  # type: ignore[attr-defined]

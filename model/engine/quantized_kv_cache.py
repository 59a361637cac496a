"""NQKV's quantized cache as an engine KV-cache kind: what `kv_cache="nqkv4"` (or 2/3) selects.

Two variants (model/nqkv/variants.py): `nqkvN` is the paper's rule (absmax NF, blocks of 64
channels of one token); `nqkvN_fit` is the measured winner, `nqkv_fit` of
benchmarks/nqkv_quality.py (keys per channel in blocks of 32 tokens, centred blocks, an `nf_tail`
codebook with the tails fitted on the embedded model).

The runner and the fused decode step only call `Cache.update`, so an `NQKVCache` (packed codes +
fp16 scales, dequantized on read; see model/nqkv/cache.py) serves both the plain transformers
path and `fast_decode` unchanged. What continuous batching adds is the merge/select seam of
kv_cache.py. Both work on the stored codes (model/nqkv/batching.py): a merge pads each row region
by region (sinks, quantized body in whole blocks, full-precision tail) and a select drops columns
that are padding in every kept row, so nothing is re-quantized and every real token reads back
exactly as before. Each row keeps its own first tokens as sinks. Caches with sliding-window layers
(gemma-3) take the dense path instead: `tensors` reads every layer back as full tensors and
`build` stores them again; exact for the paper's channel blocks, one more rounding per merge for
the fit variant's token blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import Cache

from model.engine.kv_cache import KVCacheKind, LayerKV


class NQKVCacheKind(KVCacheKind):
    """Caches of `NQKVCache` with one fixed `NQKVConfig` (see model/nqkv/variants.py)."""

    reuses_prefixes = False  # its stored form does not round-trip through dense tensors

    def __init__(
        self,
        bits: int,
        block_size: int | None = None,
        residual_tokens: int = 128,
        sink_tokens: int = 0,
        variant: str = "paper",
        key_tail: float | None = None,
        value_tail: float | None = None,
    ) -> None:
        from model.nqkv.variants import Variant, variant_config  # lazy: fp16 never imports NQKV

        self.config = variant_config(
            variant,
            bits,
            block_size=block_size,
            residual_tokens=residual_tokens,
            num_sink_tokens=sink_tokens,
            key_tail=key_tail,
            value_tail=value_tail,
        )
        self.variant = Variant(variant)
        self.name = f"nqkv{bits}" + ("_fit" if self.variant is Variant.FIT else "")

    def check(self, model_config: Any) -> None:
        """Raise ValueError (saying what to set) when the config does not fit this model."""
        self.new(model_config)

    def info(self) -> dict[str, Any]:
        config = self.config
        info: dict[str, Any] = {
            "kv_variant": self.variant.value,
            "kv_block_size": config.block_size,
            "kv_residual_tokens": config.residual_tokens,
            "kv_sink_tokens": config.num_sink_tokens,
        }
        if config.key_tail is not None:
            info |= {"kv_key_tail": config.key_tail, "kv_value_tail": config.value_tail}
        return info

    def new(self, model_config: Any) -> Cache:
        from model.nqkv import NQKVCache

        return NQKVCache(self.config, model_config)

    def tensors(self, cache: Cache) -> list[LayerKV]:
        return cache.dense_tensors()  # type: ignore[attr-defined]

    def build(self, model_config: Any, tensors: Sequence[LayerKV], room: int = 0) -> Cache:
        from model.nqkv.cache import NQKVLayer

        cache = self.new(model_config)
        for layer, (keys, values) in zip(cache.layers, tensors, strict=True):
            if isinstance(layer, NQKVLayer):
                layer.store(keys, values)  # no attention output wanted: skip the dense read
            else:  # a full-precision sliding-window layer (gemma-3)
                layer.update(keys, values)
        return cache

    def merge(
        self, model_config: Any, parts: Sequence[tuple[Cache, torch.Tensor]]
    ) -> tuple[Cache, torch.Tensor]:
        from model.nqkv import batching

        if all(batching.is_batchable(cache) for cache, _ in parts):
            return batching.merge(parts, self.new(model_config))
        return super().merge(model_config, parts)

    def select(
        self, model_config: Any, cache: Cache, attention_mask: torch.Tensor, rows: Sequence[int]
    ) -> tuple[Cache, torch.Tensor]:
        from model.nqkv import batching

        if batching.is_batchable(cache):
            return batching.select(cache, attention_mask, rows, self.new(model_config))
        return super().select(model_config, cache, attention_mask, rows)

    def nbytes(self, cache: Cache) -> int:
        return int(cache.nbytes())  # type: ignore[attr-defined]

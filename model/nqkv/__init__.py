"""NQKV: normal-quantile KV-cache quantization (codebooks, packing, a transformers Cache, peers).

The public API the engine, the CLI and the benchmarks use:

- `NQKVConfig`: the validated settings; `NQKVCache(config, model_config)`: the cache.
- `make_cache(kind, model_config)`: "fp16" -> None (the engine keeps its own cache), "nqkv2",
  "nqkv3", "nqkv4" -> an NQKVCache with that many bits and the paper's rule; "nqkv2_fit" ..
  "nqkv4_fit" -> the fitted variant (variants.py).
"""

from __future__ import annotations

from typing import Any

from model.nqkv.cache import BlockQuantizedCache, NQKVCache
from model.nqkv.config import GroupAxis, NQKVConfig, QuantSpec, ScaleMode
from model.nqkv.variants import Variant, variant_config

KV_CACHE_KINDS = ("fp16", "nqkv2", "nqkv3", "nqkv4", "nqkv2_fit", "nqkv3_fit", "nqkv4_fit")


def make_cache(kind: str, model_config: Any, **overrides: Any) -> NQKVCache | None:
    """The cache for a `kv_cache` setting: None for fp16, else an NQKVCache of that width.

    `overrides` are `variant_config` options (block_size, residual_tokens, num_sink_tokens, and
    key_tail / value_tail for the fit variant).
    """
    if kind == "fp16":
        return None
    if kind not in KV_CACHE_KINDS:
        raise ValueError(f"unknown kv_cache {kind!r}; choose one of {', '.join(KV_CACHE_KINDS)}")
    width, _, fit = kind.removeprefix("nqkv").partition("_")
    config = variant_config(Variant.FIT if fit else Variant.PAPER, int(width), **overrides)
    return NQKVCache(config, model_config)


__all__ = [
    "KV_CACHE_KINDS",
    "BlockQuantizedCache",
    "GroupAxis",
    "NQKVCache",
    "NQKVConfig",
    "QuantSpec",
    "ScaleMode",
    "Variant",
    "make_cache",
    "variant_config",
]

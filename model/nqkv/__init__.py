"""NQKV: normal-quantile KV-cache quantization (codebooks, packing, a transformers Cache, peers).

The public API the engine, the CLI and the benchmarks use:

- `NQKVConfig`: the validated settings; `NQKVCache(config, model_config)`: the cache.
- `make_cache(kind, model_config)`: "fp16" -> None (the engine keeps its own cache), "nqkv2",
  "nqkv3", "nqkv4" -> an NQKVCache with that many bits and the default settings.
"""

from __future__ import annotations

from typing import Any

from model.nqkv.cache import BlockQuantizedCache, NQKVCache
from model.nqkv.config import GroupAxis, NQKVConfig, QuantSpec, ScaleMode

KV_CACHE_KINDS = ("fp16", "nqkv2", "nqkv3", "nqkv4")


def make_cache(kind: str, model_config: Any, **overrides: Any) -> NQKVCache | None:
    """The cache for a `kv_cache` setting: None for fp16, else an NQKVCache of that width.

    `overrides` are further NQKVConfig fields (block_size, residual_tokens, ...).
    """
    if kind == "fp16":
        return None
    if kind not in KV_CACHE_KINDS:
        raise ValueError(f"unknown kv_cache {kind!r}; choose one of {', '.join(KV_CACHE_KINDS)}")
    config = NQKVConfig(bits=int(kind.removeprefix("nqkv")), **overrides)
    return NQKVCache(config, model_config)


__all__ = [
    "KV_CACHE_KINDS",
    "BlockQuantizedCache",
    "GroupAxis",
    "NQKVCache",
    "NQKVConfig",
    "QuantSpec",
    "ScaleMode",
    "make_cache",
]

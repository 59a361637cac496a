"""Per-layer KV-cache tensors cut the way vLLM cuts them, for the plugin tests.

vLLM's own planner (vllm.v1.core.kv_cache_planning) imports packages the CPU test install leaves
out, so its two steps are replayed here with vLLM's own functions. vLLM is imported inside the
function, so test modules can import this one at collection time for free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from vllm.v1.kv_cache_interface import AttentionSpec
    from vllm.v1.kv_cache_layout import KVCacheLayout


def allocate_layer_caches(
    spec: AttentionSpec, num_blocks: int, num_layers: int, layout: KVCacheLayout
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One raw int8 buffer and the per-layer views vLLM binds to the layers (what the impl gets),
    as get_kv_cache_config_from_groups plans them and the worker's create_kv_cache_views cuts."""
    from vllm.v1.kv_cache_interface import (
        KVCacheTensor,
        compute_layout_strides,
        create_kv_cache_views,
    )

    layer_stride, block_stride, _, _, _ = compute_layout_strides(
        spec, num_blocks, num_layers, layout
    )
    size = num_layers * num_blocks * spec.page_size_bytes
    raw = torch.zeros(size, dtype=torch.int8)
    names = [f"model.layers.{i}.self_attn.attn" for i in range(num_layers)]
    tensor = KVCacheTensor(
        size=size, layers=names, layer_stride=layer_stride, block_stride=block_stride
    )
    return raw, create_kv_cache_views(raw, spec, num_blocks, layout, tensor)

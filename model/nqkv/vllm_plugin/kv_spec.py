"""How an NQKV layer's KV pages look to vLLM (the spec) and to the kernels (the cache view).

vLLM sizes every page from the layer's `AttentionSpec`: page bytes = num_heads (head slots) x
tokens x `state_content_bytes`, and hands the layer a 4-D (blocks, head slots, tokens, content)
view of its pages. The packed spec publishes two head slots (K, V) whose content is the packed
rows of all KV heads of one token, so a page is exactly the kernels' layout:

    vLLM view   (num_blocks, 2, block_size, num_kv_heads * row_bytes)      storage dtype
    kernel view (num_blocks, 2, block_size, num_kv_heads, row_bytes)       uint8

with row_bytes = head_size * bits / 8 codes + 2 bytes per fp16 group scale, against 2 bytes an
element for fp16. The view is a reinterpretation of the same bytes, never a copy.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from vllm.v1.kv_cache_interface import AttentionSpec

from model.nqkv.kernels import PagedNQKVLayout
from model.nqkv.vllm_plugin.kv_dtypes import cache_dtype_stored_as

MAX_GROUP_SIZE = 64  # elements sharing one fp16 scale; the project's NQKV default (kv_block_size)


def group_size_for(head_size: int) -> int:
    """Elements a scale covers: 64, or the whole head when it is smaller.

    A fixed rule of head_size on purpose: the spec (engine process) and the impl (workers) must
    agree on the row size without any channel between them but the model's shape.
    """
    return min(MAX_GROUP_SIZE, head_size)


def paged_layout(bits: int, head_size: int, num_kv_heads: int, block_size: int) -> PagedNQKVLayout:
    """The kernels' layout for a layer (raises a ValueError for shapes they do not support)."""
    return PagedNQKVLayout(
        bits=bits,
        head_size=head_size,
        group_size=group_size_for(head_size),
        num_kv_heads=num_kv_heads,
        block_size=block_size,
    )


def packed_spec(spec: AttentionSpec) -> AttentionSpec:
    """`spec` with pages that hold packed codes + scales (idempotent: a packed spec is returned)."""
    if spec.state_content_bytes is not None:
        return spec
    if spec.head_size_v != spec.head_size:
        raise ValueError(
            f"NQKV needs equal key and value head sizes, got {spec.head_size} and "
            f"{spec.head_size_v}; use another attention backend for this model"
        )
    kind = cache_dtype_stored_as(spec.dtype)
    layout = paged_layout(kind.bits, spec.head_size, spec.num_kv_heads, spec.block_size)
    # Two head slots (K and V), each holding one token's rows for every KV head.
    return replace(spec, num_head_slots=2, state_content_bytes=spec.num_kv_heads * layout.row_bytes)


def kernel_cache_view(kv_cache: torch.Tensor, layout: PagedNQKVLayout) -> torch.Tensor:
    """vLLM's (blocks, 2, block_size, heads * row_bytes) view -> the kernels' 5-D uint8 view."""
    expected = (2, layout.block_size, layout.num_kv_heads * layout.row_bytes)
    if kv_cache.dim() != 4 or tuple(kv_cache.shape[1:]) != expected:
        raise ValueError(
            f"the NQKV layer got a KV cache of shape {tuple(kv_cache.shape)}, expected "
            f"(num_blocks, {', '.join(map(str, expected))}); was its spec built by "
            "NQKVAttentionBackend.customize_spec?"
        )
    # (blocks, 2, tokens, heads * row_bytes) -> (blocks, 2, tokens, heads, row_bytes)
    return kv_cache.view(torch.uint8).unflatten(-1, (layout.num_kv_heads, layout.row_bytes))

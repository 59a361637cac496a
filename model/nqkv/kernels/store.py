"""Quantize-and-store: a step's (or a prefill chunk's) new K/V into their paged-cache slots."""

from __future__ import annotations

import torch

from model.nqkv.kernels.checks import (
    check_cache,
    check_float,
    check_index,
    check_same_device,
    last_dim_contiguous,
    row_alignment,
)
from model.nqkv.kernels.layout import PagedNQKVLayout
from model.nqkv.kernels.loader import quantize_edges, select_kernels
from model.nqkv.kernels.reference import reference_store

BLOCK_T = 16  # tokens a program


def nqkv_store(
    key: torch.Tensor,
    value: torch.Tensor,
    kv_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
    layout: PagedNQKVLayout,
    use_triton: bool | None = None,
) -> None:
    """Write (num_tokens, num_kv_heads, head_size) `key`/`value` into `kv_cache` in place.

    Token i goes to slot slot_mapping[i] = block_id * block_size + offset; a negative slot is
    padding and is not written. The rows are bit-exact with model.nqkv.quantize.quantize.
    """
    cache_f16 = check_cache(kv_cache, layout)
    num_tokens = key.shape[0] if key.dim() == 3 else -1
    shape = (num_tokens, layout.num_kv_heads, layout.head_size)
    check_float("key", key, shape)
    check_float("value", value, shape)
    check_index("slot_mapping", slot_mapping, 1)
    if slot_mapping.shape[0] != num_tokens:
        raise ValueError(
            f"slot_mapping has {slot_mapping.shape[0]} slots for {num_tokens} tokens; "
            "give one slot a token (negative for padding)"
        )
    check_same_device(kv_cache, key=key, value=value, slot_mapping=slot_mapping)
    kernels = select_kernels(kv_cache.device, use_triton)
    if kernels is None:
        reference_store(key, value, kv_cache, slot_mapping, layout)
        return
    if num_tokens == 0:
        return
    key, value = last_dim_contiguous(key), last_dim_contiguous(value)
    slot_mapping = slot_mapping.contiguous()
    edges = quantize_edges(layout.bits, kv_cache.device)
    grid = (-(-num_tokens // BLOCK_T), layout.num_kv_heads)
    kernels.store_kernel[grid](
        key,
        value,
        kv_cache,
        cache_f16,
        slot_mapping,
        edges,
        num_tokens,
        key.stride(0),
        key.stride(1),
        value.stride(0),
        value.stride(1),
        *kv_cache.stride()[:4],
        BITS=layout.bits,
        HEAD=layout.head_size,
        GROUP=layout.group_size,
        BLOCK_SIZE=layout.block_size,
        BLOCK_T=BLOCK_T,
        ROW_ALIGN=row_alignment(kv_cache),
        num_warps=4,
    )

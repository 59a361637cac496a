"""Dequantize whole sequences out of the paged NQKV cache, for prefill.

Prefill is compute-bound, so it gains nothing from reading codes inside the attention kernel:
dequantize each sequence's cache once, then run SDPA / FlashAttention on the result.
"""

from __future__ import annotations

import itertools

import torch

from model.nqkv.kernels.checks import (
    check_block_table,
    check_cache,
    check_same_device,
    row_alignment,
)
from model.nqkv.kernels.layout import PagedNQKVLayout
from model.nqkv.kernels.loader import byte_lut, select_kernels
from model.nqkv.kernels.reference import reference_dequantize_pages

BLOCK_N = 64  # tokens a program


def dequantize_pages(
    kv_cache: torch.Tensor,
    block_table: torch.Tensor,
    seq_lens: torch.Tensor,
    layout: PagedNQKVLayout,
    dtype: torch.dtype,
    use_triton: bool | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each sequence's (seq_len, num_kv_heads, head_size) keys and values in `dtype`.

    The outputs of all sequences are views into one flat buffer per K and V (one launch).
    Reads seq_lens on the host (a sync; fine for prefill, not meant for CUDA graphs).
    """
    cache_f16 = check_cache(kv_cache, layout)
    check_block_table(block_table, seq_lens)
    check_same_device(kv_cache, block_table=block_table, seq_lens=seq_lens)
    if dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(f"dtype must be float16, bfloat16 or float32, got {dtype}")
    kernels = select_kernels(kv_cache.device, use_triton)
    if kernels is None:
        return reference_dequantize_pages(kv_cache, block_table, seq_lens, layout, dtype)

    lengths = seq_lens.tolist()
    if any(length < 0 for length in lengths):
        raise ValueError(f"seq_lens must be >= 0, got {lengths}")
    bounds = list(itertools.accumulate(lengths, initial=0))
    starts = torch.tensor(bounds, dtype=torch.int64, device=kv_cache.device)
    shape = (bounds[-1], layout.num_kv_heads, layout.head_size)
    keys = torch.empty(shape, dtype=dtype, device=kv_cache.device)
    values = torch.empty_like(keys)
    max_len = max(lengths, default=0)
    if max_len > 0:
        # An fp32 table: values are exactly level * scale before the cast to `dtype`.
        lut = byte_lut(layout.bits, torch.float32, kv_cache.device)
        grid = (len(lengths), layout.num_kv_heads, -(-max_len // BLOCK_N))
        kernels.dequantize_kernel[grid](
            kv_cache,
            cache_f16,
            block_table,
            seq_lens,
            starts,
            lut,
            keys,
            values,
            *kv_cache.stride()[:4],
            block_table.stride(0),
            keys.stride(0),
            keys.stride(1),
            BITS=layout.bits,
            HEAD=layout.head_size,
            GROUP=layout.group_size,
            BLOCK_SIZE=layout.block_size,
            BLOCK_N=BLOCK_N,
            ROW_ALIGN=row_alignment(kv_cache),
            num_warps=4,
        )
    return [(keys[start:end], values[start:end]) for start, end in itertools.pairwise(bounds)]

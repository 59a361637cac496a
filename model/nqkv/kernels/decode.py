"""Decode attention straight from the paged NQKV cache (flash-decoding: split-K, then a reduce).

One query token a sequence. The context of each sequence is cut into `num_splits` slices that
run as separate programs (so a batch of one long sequence still fills the GPU); each writes an
unnormalised fp32 partial with its running max and sum, and a second kernel merges them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from model.nqkv.kernels.checks import (
    check_block_table,
    check_cache,
    check_float,
    check_same_device,
    last_dim_contiguous,
    row_alignment,
)
from model.nqkv.kernels.layout import PagedNQKVLayout
from model.nqkv.kernels.loader import byte_lut, code_lut, select_kernels
from model.nqkv.kernels.reference import reference_decode_attention

MIN_TOKENS_PER_SPLIT = 256  # below this a split's fixed cost outweighs its parallelism
MAX_SPLITS = 64
CPU_PROGRAMS = 8  # the interpreter has no SMs to fill; keep its grids small


@dataclass(frozen=True)
class DecodeTile:
    """Launch shape and dequant table of the split kernel (benchmarks/nqkv_kernels.py sweeps them).

    The default, a (64 tokens x head_size) tile of K and of V with 4 warps, no software
    pipelining and the per-code table, is from the H200 sweep in
    benchmarks/results/nqkv_kernels_tiles.md: 3.4x faster than the earlier default (2 stages,
    byte table) at batch 8 and 32k context, within 12% of the fastest shape there, and the same
    with 1 or 2 stages. Pipelining the byte table's gathers made every shape but one 2-3x slower.
    """

    block_n: int = 64  # tokens a loop iteration (several pages when pages are small); >= 16
    num_warps: int = 4
    num_stages: int = 1  # software pipelining of the page loads (2 was 3.4x slower on an H200)
    lut: Literal["byte", "code"] = "code"  # dequant table: per code, or per packed byte

    def __post_init__(self) -> None:
        if self.block_n < 16 or self.block_n & (self.block_n - 1):
            raise ValueError(f"block_n {self.block_n} must be a power of two >= 16 (tl.dot)")
        if self.lut not in ("byte", "code"):
            raise ValueError(f"lut {self.lut!r} must be 'byte' or 'code'")


def default_num_splits(
    num_seqs: int, num_kv_heads: int, max_seq_len: int, device: torch.device
) -> int:
    """Splits enough to give every SM about two programs, but no split under 256 tokens."""
    if device.type == "cuda":
        target = 2 * torch.cuda.get_device_properties(device).multi_processor_count
    else:
        target = CPU_PROGRAMS
    by_occupancy = -(-target // max(1, num_seqs * num_kv_heads))
    by_length = -(-max_seq_len // MIN_TOKENS_PER_SPLIT)
    return max(1, min(by_occupancy, by_length, MAX_SPLITS))


def nqkv_decode_attention(
    query: torch.Tensor,
    kv_cache: torch.Tensor,
    block_table: torch.Tensor,
    seq_lens: torch.Tensor,
    layout: PagedNQKVLayout,
    scale: float,
    num_splits: int | None = None,
    *,
    max_seq_len: int | None = None,
    out: torch.Tensor | None = None,
    tile: DecodeTile | None = None,
    use_triton: bool | None = None,
) -> torch.Tensor:
    """Attention of (num_seqs, num_heads, head_size) `query` over each sequence's cached tokens.

    `seq_lens[i]` counts the cached tokens of sequence i, the current one included (store it
    first). `max_seq_len` (an upper bound, e.g. vLLM's metadata) only sizes the default split
    count; without it the block table's width is used, so no device sync happens. Returns
    (num_seqs, num_heads, head_size) in query's dtype (written into `out` when given).
    """
    cache_f16 = check_cache(kv_cache, layout)
    check_block_table(block_table, seq_lens)
    num_seqs = block_table.shape[0]
    if query.dim() != 3 or query.shape[1] % layout.num_kv_heads:
        raise ValueError(
            f"query must be (num_seqs, num_heads, {layout.head_size}) with num_heads a multiple "
            f"of num_kv_heads {layout.num_kv_heads}, got {tuple(query.shape)}"
        )
    num_heads = query.shape[1]
    check_float("query", query, (num_seqs, num_heads, layout.head_size))
    check_same_device(kv_cache, query=query, block_table=block_table, seq_lens=seq_lens)
    if num_splits is not None and num_splits < 1:
        raise ValueError(f"num_splits {num_splits} must be >= 1 (or None for the default)")
    if out is None:
        out = torch.empty_like(query)
    elif out.shape != query.shape or out.dtype != query.dtype or out.stride(-1) != 1:
        raise ValueError("out must have query's shape and dtype, with contiguous rows")
    kernels = select_kernels(kv_cache.device, use_triton)
    if kernels is None:
        out.copy_(reference_decode_attention(query, kv_cache, block_table, seq_lens, layout, scale))
        return out
    if num_seqs == 0:
        return out

    if max_seq_len is None:
        max_seq_len = block_table.shape[1] * layout.block_size
    if num_splits is None:
        num_splits = default_num_splits(num_seqs, layout.num_kv_heads, max_seq_len, query.device)
    query = last_dim_contiguous(query)
    tile = tile or DecodeTile()
    queries_per_kv = num_heads // layout.num_kv_heads
    interpreted = kernels.__name__.endswith("interpreted")
    make_lut = code_lut if tile.lut == "code" else byte_lut
    lut = make_lut(layout.bits, _dot_dtype(query.dtype, interpreted), kv_cache.device)
    # (seq, head, split[, head_size]) fp32 partials of the split kernel.
    part_shape = (num_seqs, num_heads, num_splits)
    part_out = torch.empty(
        (*part_shape, layout.head_size), dtype=torch.float32, device=query.device
    )
    part_max = torch.empty(part_shape, dtype=torch.float32, device=query.device)
    part_sum = torch.empty_like(part_max)
    kernels.decode_split_kernel[(num_seqs, layout.num_kv_heads, num_splits)](
        query,
        kv_cache,
        cache_f16,
        block_table,
        seq_lens,
        lut,
        part_out,
        part_max,
        part_sum,
        scale * math.log2(math.e),
        num_splits,
        query.stride(0),
        query.stride(1),
        *kv_cache.stride()[:4],
        block_table.stride(0),
        BITS=layout.bits,
        HEAD=layout.head_size,
        GROUP=layout.group_size,
        BLOCK_SIZE=layout.block_size,
        BLOCK_N=tile.block_n,
        QUERIES_PER_KV=queries_per_kv,
        QUERIES_PAD=max(16, _next_power_of_2(queries_per_kv)),
        ROW_ALIGN=row_alignment(kv_cache),
        LUT_PER_CODE=tile.lut == "code",
        num_warps=tile.num_warps,
        num_stages=tile.num_stages,
    )
    kernels.decode_reduce_kernel[(num_seqs, num_heads)](
        part_out,
        part_max,
        part_sum,
        out,
        num_splits,
        out.stride(0),
        out.stride(1),
        HEAD=layout.head_size,
        SPLITS_PAD=_next_power_of_2(num_splits),
        num_warps=1 if layout.head_size <= 64 else 2,
    )
    return out


def _dot_dtype(dtype: torch.dtype, interpreted: bool) -> torch.dtype:
    """The dots' input dtype (and the LUT's): the query's, except bf16 under the interpreter,
    whose tl.dot multiplies bf16 as raw uint16 bits (triton 3.9); there it is fp32 instead."""
    return torch.float32 if dtype == torch.bfloat16 and interpreted else dtype


def _next_power_of_2(value: int) -> int:
    return 1 << max(0, value - 1).bit_length()

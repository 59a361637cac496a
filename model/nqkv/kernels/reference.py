"""Pure-PyTorch references of the paged NQKV kernels (the plain path the kernels are tested against).

They go through model.nqkv.quantize itself, so "the kernels agree with the reference" means they
agree with the NQKV quantizer every other part of the project uses. Slow (a Python loop over
sequences) but simple; they also serve CPU tensors when Triton is not used.
"""

from __future__ import annotations

import sys

import torch

from model.nqkv.kernels.layout import PagedNQKVLayout
from model.nqkv.quantize import QuantizedBlocks, dequantize, quantize

# The row layout stores scales as little-endian bytes; torch views use the host's byte order.
assert sys.byteorder == "little", "the NQKV row layout assumes a little-endian host"


def quantize_rows(x: torch.Tensor, layout: PagedNQKVLayout) -> torch.Tensor:
    """(..., head_size) values -> (..., row_bytes) uint8 rows: packed codes then fp16 scales."""
    lead = x.shape[:-1]
    # quantize takes (batch, heads, tokens, head_dim); channel groups make every row independent.
    blocks = quantize(x.reshape(1, 1, -1, layout.head_size), layout.quant_spec())
    codes = blocks.codes.reshape(*lead, layout.code_bytes)
    scales = blocks.scales.reshape(*lead, layout.num_groups).contiguous().view(torch.uint8)
    return torch.cat([codes, scales], dim=-1)


def dequantize_rows(
    rows: torch.Tensor, layout: PagedNQKVLayout, dtype: torch.dtype
) -> torch.Tensor:
    """(..., row_bytes) uint8 rows -> (..., head_size) values in `dtype`."""
    lead = rows.shape[:-1]
    if rows.numel() == 0:
        return torch.empty((*lead, layout.head_size), dtype=dtype, device=rows.device)
    flat = rows.reshape(1, 1, -1, layout.row_bytes)
    codes = flat[..., : layout.code_bytes]
    scales = flat[..., layout.code_bytes :].contiguous().view(torch.float16)
    blocks = QuantizedBlocks(codes, scales, None, flat.shape[2], layout.head_size)
    return dequantize(blocks, layout.quant_spec(), dtype).reshape(*lead, layout.head_size)


def reference_store(
    key: torch.Tensor,
    value: torch.Tensor,
    kv_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
    layout: PagedNQKVLayout,
) -> None:
    """Quantize (num_tokens, num_kv_heads, head_size) K and V into their slots; slot < 0 skips."""
    is_slot = slot_mapping >= 0
    slots = slot_mapping[is_slot].long()
    blocks, offsets = slots // layout.block_size, slots % layout.block_size
    kv_cache[blocks, 0, offsets] = quantize_rows(key[is_slot], layout)
    kv_cache[blocks, 1, offsets] = quantize_rows(value[is_slot], layout)


def reference_dequantize_pages(
    kv_cache: torch.Tensor,
    block_table: torch.Tensor,
    seq_lens: torch.Tensor,
    layout: PagedNQKVLayout,
    dtype: torch.dtype,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each sequence's (seq_len, num_kv_heads, head_size) keys and values, in `dtype`."""
    out = []
    for seq, seq_len in enumerate(seq_lens.tolist()):
        positions = torch.arange(seq_len, device=kv_cache.device)
        blocks = block_table[seq, positions // layout.block_size].long()
        # (seq_len, 2, num_kv_heads, row_bytes): advanced indices go first.
        rows = kv_cache[blocks, :, positions % layout.block_size]
        out.append(
            (dequantize_rows(rows[:, 0], layout, dtype), dequantize_rows(rows[:, 1], layout, dtype))
        )
    return out


def reference_decode_attention(
    query: torch.Tensor,
    kv_cache: torch.Tensor,
    block_table: torch.Tensor,
    seq_lens: torch.Tensor,
    layout: PagedNQKVLayout,
    scale: float,
) -> torch.Tensor:
    """softmax(q k^T * scale) v per sequence in float32 over the dequantized cache.

    Query head h attends with kv head h // (num_heads / num_kv_heads), vLLM's GQA grouping.
    """
    num_heads = query.shape[1]
    pages = reference_dequantize_pages(kv_cache, block_table, seq_lens, layout, torch.float32)
    out = torch.zeros(query.shape, dtype=torch.float32, device=query.device)
    for seq, (key, value) in enumerate(pages):
        if key.shape[0] == 0:
            continue
        group = num_heads // layout.num_kv_heads
        # (seq_len, num_kv_heads, head_size) -> (num_heads, seq_len, head_size)
        key = key.repeat_interleave(group, dim=1).transpose(0, 1)
        value = value.repeat_interleave(group, dim=1).transpose(0, 1)
        scores = torch.einsum("hd,hnd->hn", query[seq].float(), key) * scale
        out[seq] = torch.einsum("hn,hnd->hd", scores.softmax(dim=-1), value)
    return out.to(query.dtype)

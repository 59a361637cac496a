"""Triton kernels of the paged NQKV cache: quantize-and-store, decode attention, dequantize.

The cache layout (shared with the vLLM plugin; `PagedNQKVLayout` holds its arithmetic)
--------------------------------------------------------------------------------------
A layer's cache is ONE uint8 tensor of shape (num_blocks, 2, block_size, num_kv_heads, row_bytes);
index 0 of dim 1 holds keys, 1 values. Each (token, kv head) row is

    [ packed codes: head_size * bits / 8 bytes | fp16 scales: 2 * head_size / group_size bytes ]

with codes packed as `model.nqkv.packing.pack_codes` does (little-endian, element 0 in the low
bits) and scales as little-endian fp16 (a view of the row's tail as float16). A row is bit-exact
with `model.nqkv.quantize.quantize` under QuantSpec(bits, block_size=group_size,
axis="channels", codebook="nf", scale="absmax"). Slots follow vLLM: slot = block_id * block_size
+ offset (negative = padding), block_table (num_seqs, max_blocks) int32, seq_lens (num_seqs,).

Why one byte tensor per layer: vLLM sizes KV pages from a per-layer spec (page bytes = tokens x
heads x per-token bytes x 2) and allocates one tensor per layer. Codes and scales of different
dtypes cannot share a typed tensor, and two tensors would need two page accountings. Packing both
into uint8 rows makes the page exactly `page_bytes` (0.27x of fp16 at 4 bits, group 64),
so the plugin's spec can report real bytes and vLLM fits 3.8x the tokens in the same memory.
A page holds both K and V of its tokens (dim 1), so one block id addresses both, as vLLM's page
bytes (which count K and V) assume.

The kernels
-----------
`nqkv_store` quantizes a step's K/V rows (absmax per group, nearest NF level by midpoint edges)
and writes them to their slots. `nqkv_decode_attention` is flash-decoding over the pages: each
program takes a kv head's whole GQA query group and a slice of one sequence's context, loads
the tile's packed bytes, turns every byte into its 2 or 4 levels with one lookup in a 256-entry
table derived from the codebook, scales each group, and runs an fp32 online softmax with
tl.dot; a reduce kernel merges the slices. `dequantize_pages` serves prefill (dequantize, then
SDPA / FlashAttention, which is compute-bound anyway).

Which implementation runs
-------------------------
Every function takes `use_triton: bool | None = None`: by default the Triton kernels run on CUDA
tensors, or anywhere when TRITON_INTERPRET=1 (triton's CPU interpreter, used by the tests);
otherwise the torch reference (`reference.py`) runs. See loader.py for how both Triton modes
coexist in one process.
"""

from __future__ import annotations

from model.nqkv.kernels.decode import nqkv_decode_attention
from model.nqkv.kernels.dequant import dequantize_pages
from model.nqkv.kernels.layout import KERNEL_BITS, PagedNQKVLayout
from model.nqkv.kernels.reference import reference_decode_attention, reference_store
from model.nqkv.kernels.store import nqkv_store

__all__ = [
    "KERNEL_BITS",
    "PagedNQKVLayout",
    "dequantize_pages",
    "nqkv_decode_attention",
    "nqkv_store",
    "reference_decode_attention",
    "reference_store",
]

"""The compiled kernels on a GPU at real shapes (Llama-3-8B attention: 8 KV heads, 32 query
heads, head_size 128), against the torch reference. Skipped without CUDA."""

from __future__ import annotations

import pytest
import torch

from model.nqkv.kernels import (
    PagedNQKVLayout,
    dequantize_pages,
    nqkv_decode_attention,
    nqkv_store,
    reference_decode_attention,
    reference_store,
)
from model.nqkv.kernels.decode import DecodeTile
from model.nqkv.kernels.reference import reference_dequantize_pages

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

NUM_KV_HEADS, NUM_HEADS, HEAD_SIZE, BLOCK_SIZE = 8, 32, 128, 16


def _layout(bits: int, group_size: int = 64) -> PagedNQKVLayout:
    return PagedNQKVLayout(bits, HEAD_SIZE, group_size, NUM_KV_HEADS, BLOCK_SIZE)


def _paged(layout: PagedNQKVLayout, seq_lens: list[int], dtype: torch.dtype):
    """A cache filled by the Triton store, with its block table, and the same via the reference."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    max_blocks = -(-max(seq_lens) // BLOCK_SIZE)
    num_blocks = len(seq_lens) * max_blocks
    block_table = torch.randperm(num_blocks, device="cuda", generator=gen).reshape(
        len(seq_lens), max_blocks
    )
    num_slots = num_blocks * BLOCK_SIZE
    shape = (num_slots, NUM_KV_HEADS, HEAD_SIZE)
    key = torch.randn(shape, device="cuda", generator=gen).to(dtype)
    value = torch.randn(shape, device="cuda", generator=gen).to(dtype)
    slots = torch.arange(num_slots, device="cuda")
    slots[::7] = -1  # some padding
    cache = torch.zeros(layout.cache_shape(num_blocks), dtype=torch.uint8, device="cuda")
    expected = cache.clone()
    nqkv_store(key, value, cache, slots, layout)
    reference_store(key, value, expected, slots, layout)
    return cache, expected, block_table.to(torch.int32)


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_store_decode_and_dequantize_at_real_shapes(bits: int, dtype: torch.dtype) -> None:
    layout = _layout(bits)
    seq_lens = [1, 1000, 4097, 8192]
    cache, expected_cache, block_table = _paged(layout, seq_lens, dtype)
    assert torch.equal(cache, expected_cache)

    lens = torch.tensor(seq_lens, dtype=torch.int32, device="cuda")
    query = torch.randn(len(seq_lens), NUM_HEADS, HEAD_SIZE, device="cuda").to(dtype)
    scale = HEAD_SIZE**-0.5
    out = nqkv_decode_attention(query, cache, block_table, lens, layout, scale)
    expected = reference_decode_attention(query, cache, block_table, lens, layout, scale)
    tol = 4e-3 if dtype == torch.float16 else 3e-2
    torch.testing.assert_close(out.float(), expected.float(), atol=tol, rtol=tol)
    for num_splits in (1, 7):
        split = nqkv_decode_attention(query, cache, block_table, lens, layout, scale, num_splits)
        torch.testing.assert_close(split.float(), expected.float(), atol=tol, rtol=tol)
    for lut in ("byte", "code"):  # both dequant tables, whichever DecodeTile's default is
        tile = DecodeTile(block_n=32, num_warps=4, num_stages=1, lut=lut)
        tiled = nqkv_decode_attention(query, cache, block_table, lens, layout, scale, tile=tile)
        torch.testing.assert_close(tiled.float(), expected.float(), atol=tol, rtol=tol)

    pages = dequantize_pages(cache, block_table, lens, layout, dtype)
    for (key, value), (ref_key, ref_value) in zip(
        pages, reference_dequantize_pages(cache, block_table, lens, layout, dtype), strict=True
    ):
        assert torch.equal(key, ref_key)
        assert torch.equal(value, ref_value)


def test_long_context_single_sequence() -> None:
    layout = _layout(4)
    cache, _, block_table = _paged(layout, [32768], torch.float16)
    lens = torch.tensor([32768], dtype=torch.int32, device="cuda")
    query = torch.randn(1, NUM_HEADS, HEAD_SIZE, device="cuda", dtype=torch.float16)
    out = nqkv_decode_attention(query, cache, block_table, lens, layout, HEAD_SIZE**-0.5)
    expected = reference_decode_attention(query, cache, block_table, lens, layout, HEAD_SIZE**-0.5)
    torch.testing.assert_close(out, expected, atol=4e-3, rtol=4e-3)

"""nqkv_decode_attention through triton's interpreter against the float32 torch reference."""

from __future__ import annotations

import pytest
import torch

from model.nqkv.kernels import (
    PagedNQKVLayout,
    nqkv_decode_attention,
    reference_decode_attention,
)
from model.nqkv.kernels.decode import DecodeTile
from tests.model.nqkv.kernels.paged_caches import filled_cache, random_block_table

pytest.importorskip("triton")

# The kernel rounds dequantized K/V (and the softmax weights) to the query's dtype for its dots.
TOLERANCE = {torch.float16: 4e-3, torch.bfloat16: 3e-2, torch.float32: 1e-5}


def _check(
    layout: PagedNQKVLayout,
    seq_lens: list[int],
    queries_per_kv: int,
    dtype: torch.dtype,
    **kwargs: object,
) -> None:
    max_blocks = -(-max(seq_lens) // layout.block_size)
    num_blocks = len(seq_lens) * max_blocks + 2
    cache = filled_cache(layout, num_blocks)
    block_table = random_block_table(len(seq_lens), max_blocks, num_blocks)
    lens = torch.tensor(seq_lens, dtype=torch.int32)
    gen = torch.Generator().manual_seed(1)
    num_heads = layout.num_kv_heads * queries_per_kv
    query = (torch.randn(len(seq_lens), num_heads, layout.head_size, generator=gen) * 2).to(dtype)
    scale = layout.head_size**-0.5
    out = nqkv_decode_attention(query, cache, block_table, lens, layout, scale, **kwargs)
    expected = reference_decode_attention(query, cache, block_table, lens, layout, scale)
    assert out.dtype == dtype and out.shape == query.shape
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(out.float(), expected.float(), atol=tol, rtol=tol)


@pytest.mark.parametrize(
    ("bits", "head_size", "group_size", "block_size", "dtype", "num_splits"),
    [
        (4, 64, 32, 16, torch.float16, 3),  # splits: uneven lengths leave some empty
        (2, 128, 64, 16, torch.bfloat16, None),  # the default split count
        (4, 128, 128, 32, torch.float32, 1),  # one split: multi-tile loop in one program
        (2, 64, 32, 24, torch.float16, 2),  # a page size that does not divide the tile
    ],
)
def test_gqa_split_k_matches_the_reference(
    bits: int,
    head_size: int,
    group_size: int,
    block_size: int,
    dtype: torch.dtype,
    num_splits: int | None,
) -> None:
    layout = PagedNQKVLayout(bits, head_size, group_size, num_kv_heads=2, block_size=block_size)
    # 1 token, a partial last page, a long multi-page context.
    _check(layout, [1, 37, 150], queries_per_kv=4, dtype=dtype, num_splits=num_splits)


def test_multi_head_attention_and_a_small_tile() -> None:
    layout = PagedNQKVLayout(4, 64, 64, num_kv_heads=3, block_size=8)
    _check(layout, [70, 9], queries_per_kv=1, dtype=torch.float16, tile=DecodeTile(block_n=16))


@pytest.mark.parametrize("bits", [4, 2])
def test_per_code_lut_matches_the_reference(bits: int) -> None:
    """The per-code table (shift and mask, then a 2^bits-entry lookup) decodes as the byte one."""
    layout = PagedNQKVLayout(bits, 64, 32, num_kv_heads=2, block_size=16)
    _check(layout, [40, 3], queries_per_kv=2, dtype=torch.float16, tile=DecodeTile(lut="code"))


def test_strided_query_and_out_buffer() -> None:
    layout = PagedNQKVLayout(4, 64, 32, num_kv_heads=1, block_size=16)
    cache = filled_cache(layout, 4)
    block_table = torch.tensor([[2, 0], [1, 3]], dtype=torch.int32)
    lens = torch.tensor([20, 32], dtype=torch.int32)
    qkv = torch.randn(2, 4 + 1 + 1, 64, dtype=torch.float16)
    query = qkv[:, :4]  # a view into a fused projection: non-contiguous rows
    out = torch.empty(2, 4, 64, dtype=torch.float16)
    result = nqkv_decode_attention(query, cache, block_table, lens, layout, 0.125, out=out)
    assert result is out
    expected = reference_decode_attention(query, cache, block_table, lens, layout, 0.125)
    torch.testing.assert_close(out, expected, atol=4e-3, rtol=4e-3)


def test_torch_reference_when_triton_is_not_selected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET")
    layout = PagedNQKVLayout(2, 64, 32, num_kv_heads=1, block_size=16)
    cache = filled_cache(layout, 2)
    block_table = torch.tensor([[1, 0]], dtype=torch.int32)
    lens = torch.tensor([20], dtype=torch.int32)
    query = torch.randn(1, 2, 64)
    out = nqkv_decode_attention(query, cache, block_table, lens, layout, 0.125)
    expected = reference_decode_attention(query, cache, block_table, lens, layout, 0.125)
    assert torch.equal(out, expected)
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        nqkv_decode_attention(query, cache, block_table, lens, layout, 0.125, use_triton=True)


def test_bad_inputs_get_one_line_errors() -> None:
    layout = PagedNQKVLayout(4, 64, 32, num_kv_heads=2, block_size=16)
    cache = filled_cache(layout, 2)
    block_table = torch.tensor([[0, 1]], dtype=torch.int32)
    lens = torch.tensor([20], dtype=torch.int32)
    with pytest.raises(ValueError, match="multiple of num_kv_heads 2"):
        nqkv_decode_attention(torch.randn(1, 3, 64), cache, block_table, lens, layout, 1.0)
    with pytest.raises(ValueError, match="num_splits 0"):
        nqkv_decode_attention(torch.randn(1, 4, 64), cache, block_table, lens, layout, 1.0, 0)
    with pytest.raises(ValueError, match="block_table has 1 rows but seq_lens 2"):
        nqkv_decode_attention(
            torch.randn(1, 4, 64), cache, block_table, lens.repeat(2), layout, 1.0
        )
    with pytest.raises(ValueError, match="block_n 24"):
        DecodeTile(block_n=24)
    with pytest.raises(ValueError, match="lut 'table'"):
        DecodeTile(lut="table")  # type: ignore[arg-type]

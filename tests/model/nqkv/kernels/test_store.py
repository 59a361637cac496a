"""nqkv_store through triton's interpreter: bit-exact rows against the NQKV torch quantizer."""

from __future__ import annotations

import pytest
import torch

from model.nqkv.kernels import PagedNQKVLayout, nqkv_store, reference_store
from model.nqkv.kernels.reference import dequantize_rows
from model.nqkv.quantize import fake_quantize

pytest.importorskip("triton")

SENTINEL = 0xA5  # bytes no store should touch keep this value


def _store_both(
    layout: PagedNQKVLayout,
    key: torch.Tensor,
    value: torch.Tensor,
    slots: torch.Tensor,
    num_blocks: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cache after the Triton store and after the reference store, from the same start."""
    start = torch.full(layout.cache_shape(num_blocks), SENTINEL, dtype=torch.uint8)
    triton_cache, torch_cache = start.clone(), start.clone()
    nqkv_store(key, value, triton_cache, slots, layout)
    reference_store(key, value, torch_cache, slots, layout)
    return triton_cache, torch_cache


@pytest.mark.parametrize(
    ("bits", "head_size", "group_size", "dtype"),
    [
        (4, 64, 32, torch.float16),
        (2, 128, 64, torch.bfloat16),
        (4, 128, 128, torch.float32),
        (2, 64, 32, torch.float16),
    ],
)
def test_codes_and_scales_match_the_reference_exactly(
    bits: int, head_size: int, group_size: int, dtype: torch.dtype
) -> None:
    layout = PagedNQKVLayout(bits, head_size, group_size, num_kv_heads=2, block_size=8)
    gen = torch.Generator().manual_seed(bits * head_size)
    # 20 tokens: one full tile of 16 and a partial one; heavy-tailed rows exercise the scales.
    shape = (20, 2, head_size)
    key = (torch.randn(shape, generator=gen) * torch.rand(shape, generator=gen) * 4).to(dtype)
    value = torch.randn(shape, generator=gen).to(dtype)
    slots = torch.randperm(4 * 8, generator=gen)[:20]
    triton_cache, torch_cache = _store_both(layout, key, value, slots, num_blocks=4)
    assert torch.equal(triton_cache, torch_cache)
    # The rows decode to what model.nqkv's own quantizer makes of the inputs.
    rows = triton_cache[slots // 8, 0, slots % 8]
    expected = fake_quantize(key.float().reshape(1, 1, -1, head_size), layout.quant_spec())
    assert torch.equal(dequantize_rows(rows, layout, torch.float32).flatten(0, 1), expected[0, 0])


def test_padding_slots_are_not_written() -> None:
    layout = PagedNQKVLayout(4, 64, 32, num_kv_heads=2, block_size=8)
    key = torch.randn(6, 2, 64, dtype=torch.float16)
    slots = torch.tensor([3, -1, 9, -1, -1, 17])
    triton_cache, torch_cache = _store_both(layout, key, key, slots, num_blocks=3)
    assert torch.equal(triton_cache, torch_cache)
    written = torch.zeros(3 * 8, dtype=torch.bool)
    written[[3, 9, 17]] = True
    untouched = triton_cache.transpose(1, 2).reshape(3 * 8, -1)[~written]
    assert (untouched == SENTINEL).all()
    assert not (triton_cache.transpose(1, 2).reshape(3 * 8, -1)[written] == SENTINEL).all()


def test_strided_inputs_from_a_fused_qkv_projection() -> None:
    layout = PagedNQKVLayout(2, 64, 64, num_kv_heads=2, block_size=16)
    # (tokens, q heads + k heads + v heads, head_size): K and V are non-contiguous views.
    qkv = torch.randn(5, 8 + 2 + 2, 64, dtype=torch.float16)
    key, value = qkv[:, 8:10], qkv[:, 10:12]
    slots = torch.arange(16, 21)
    triton_cache, torch_cache = _store_both(layout, key, value, slots, num_blocks=2)
    assert torch.equal(triton_cache, torch_cache)


def test_bad_inputs_get_one_line_errors() -> None:
    layout = PagedNQKVLayout(4, 64, 32, num_kv_heads=2, block_size=8)
    cache = torch.zeros(layout.cache_shape(2), dtype=torch.uint8)
    key = torch.randn(3, 2, 64)
    with pytest.raises(ValueError, match="slot_mapping has 2 slots for 3 tokens"):
        nqkv_store(key, key, cache, torch.tensor([0, 1]), layout)
    with pytest.raises(ValueError, match="key has shape"):
        nqkv_store(torch.randn(3, 4, 64), key, cache, torch.arange(3), layout)
    with pytest.raises(ValueError, match="kv_cache must be uint8"):
        nqkv_store(key, key, cache.half(), torch.arange(3), layout)
    with pytest.raises(ValueError, match="does not match the layout"):
        nqkv_store(key, key, cache[:, :, :4], torch.arange(3), layout)

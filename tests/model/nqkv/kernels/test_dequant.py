"""dequantize_pages (the prefill path) through triton's interpreter: exactly the reference."""

from __future__ import annotations

import pytest
import torch

from model.nqkv.kernels import PagedNQKVLayout, dequantize_pages
from model.nqkv.kernels.reference import reference_dequantize_pages
from tests.model.nqkv.kernels.paged_caches import filled_cache, random_block_table

pytest.importorskip("triton")


@pytest.mark.parametrize(
    ("bits", "head_size", "group_size", "dtype"),
    [(4, 64, 32, torch.float32), (2, 128, 64, torch.float16), (4, 64, 64, torch.bfloat16)],
)
def test_sequences_match_the_reference_exactly(
    bits: int, head_size: int, group_size: int, dtype: torch.dtype
) -> None:
    layout = PagedNQKVLayout(bits, head_size, group_size, num_kv_heads=2, block_size=16)
    cache = filled_cache(layout, 12)
    block_table = random_block_table(3, 4, 12)
    seq_lens = torch.tensor([5, 0, 64], dtype=torch.int32)
    pages = dequantize_pages(cache, block_table, seq_lens, layout, dtype)
    expected = reference_dequantize_pages(cache, block_table, seq_lens, layout, dtype)
    assert [key.shape[0] for key, _ in pages] == [5, 0, 64]
    # The interpreter casts fp32 to bf16 by truncation (triton 3.9; GPUs round to nearest), so
    # bf16 may differ by one unit in the last place there; everything else is bit-exact.
    rtol = 2**-7 if dtype == torch.bfloat16 else 0.0
    for (key, value), (ref_key, ref_value) in zip(pages, expected, strict=True):
        assert key.dtype == dtype
        torch.testing.assert_close(key, ref_key, atol=0.0, rtol=rtol)
        torch.testing.assert_close(value, ref_value, atol=0.0, rtol=rtol)


def test_bad_dtype_is_rejected() -> None:
    layout = PagedNQKVLayout(4, 64, 32, num_kv_heads=2, block_size=16)
    cache = filled_cache(layout, 1)
    with pytest.raises(ValueError, match="dtype must be"):
        dequantize_pages(
            cache,
            torch.zeros(1, 1, dtype=torch.int32),
            torch.ones(1, dtype=torch.int32),
            layout,
            torch.int8,
        )

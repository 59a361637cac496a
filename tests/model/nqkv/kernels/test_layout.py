"""PagedNQKVLayout: byte arithmetic of the contract, and clear errors for what has no kernel."""

from __future__ import annotations

import pytest

from model.nqkv.config import NQKVConfig
from model.nqkv.kernels import PagedNQKVLayout


def test_page_bytes_hold_codes_and_scales() -> None:
    layout = PagedNQKVLayout(bits=4, head_size=128, group_size=64, num_kv_heads=8, block_size=16)
    assert layout.code_bytes == 64
    assert layout.scale_bytes == 4
    assert layout.row_bytes == 68
    assert layout.page_bytes == 2 * 16 * 8 * 68
    assert layout.fp16_page_bytes == 2 * 16 * 8 * 128 * 2
    assert layout.cache_shape(10) == (10, 2, 16, 8, 68)
    two_bit = PagedNQKVLayout(2, 128, 32, 8, 16)
    assert two_bit.row_bytes == 32 + 8


def test_three_bits_names_the_supported_widths() -> None:
    with pytest.raises(ValueError, match=r"support bits \(2, 4\)"):
        PagedNQKVLayout(bits=3, head_size=128, group_size=64, num_kv_heads=8, block_size=16)


@pytest.mark.parametrize(
    ("head_size", "group_size", "message"),
    [(128, 48, "group_size 48"), (64, 128, "group_size 128"), (96, 32, "head_size 96")],
)
def test_unsupported_shapes_are_rejected(head_size: int, group_size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PagedNQKVLayout(4, head_size, group_size, num_kv_heads=2, block_size=16)


def test_from_config_takes_bits_and_group() -> None:
    layout = PagedNQKVLayout.from_config(
        NQKVConfig(bits=2, block_size=32), head_size=64, num_kv_heads=4, block_size=16
    )
    assert (layout.bits, layout.group_size, layout.head_size) == (2, 32, 64)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (NQKVConfig(bits=3), "support bits"),
        (NQKVConfig(codebook="nf_sym"), "'nf' codebook"),
        (NQKVConfig(center_keys=True), "absmax"),
        (NQKVConfig(key_axis="tokens"), "channels"),
    ],
)
def test_from_config_rejects_what_the_kernels_do_not_implement(
    config: NQKVConfig, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PagedNQKVLayout.from_config(config, head_size=128, num_kv_heads=8, block_size=16)

"""Dense 2/3/4-bit packing: round trips, exact byte counts and the bit layout."""

from __future__ import annotations

import pytest
import torch

from model.nqkv.packing import pack_codes, packed_nbytes, unpack_codes


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("length", [1, 7, 8, 64, 129])
def test_round_trip(bits, length):
    codes = torch.randint(0, 2**bits, (2, 3, length), dtype=torch.uint8)
    packed = pack_codes(codes, bits)
    assert packed.dtype == torch.uint8
    assert packed.shape == (2, 3, packed_nbytes(length, bits))
    assert torch.equal(unpack_codes(packed, bits, length), codes)


@pytest.mark.parametrize(("bits", "nbytes"), [(2, 16), (3, 24), (4, 32)])
def test_dense_byte_counts(bits, nbytes):
    # 64 codes of b bits are exactly 8 * b bytes: no padding bits between codes.
    assert packed_nbytes(64, bits) == nbytes
    assert pack_codes(torch.zeros(64, dtype=torch.uint8), bits).numel() == nbytes


def test_bit_layout_is_little_endian():
    assert pack_codes(torch.tensor([1, 2], dtype=torch.uint8), 4).tolist() == [0x21]
    assert pack_codes(torch.tensor([1, 2, 3, 0], dtype=torch.uint8), 2).tolist() == [0b00111001]
    # 3 bits: codes 0..7 -> word sum(i << 3i) = 0xFAC688 -> bytes 0x88, 0xC6, 0xFA
    assert pack_codes(torch.arange(8, dtype=torch.uint8), 3).tolist() == [0x88, 0xC6, 0xFA]


def test_unsupported_bits():
    with pytest.raises(ValueError, match="2, 3 or 4"):
        pack_codes(torch.zeros(8, dtype=torch.uint8), 5)

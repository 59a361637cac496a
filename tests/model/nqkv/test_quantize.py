"""Block quantize/dequantize: exact round trips on codebook points, error bounds, byte counts."""

from __future__ import annotations

import pytest
import torch

from model.nqkv.codebook import codebook
from model.nqkv.config import QuantSpec
from model.nqkv.quantize import dequantize, fake_quantize, quantize


def _sqnr_db(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(10 * torch.log10(x.pow(2).sum() / (x - y).pow(2).sum()))


@pytest.mark.parametrize("axis", ["channels", "tokens"])
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_codebook_points_round_trip_exactly(axis, bits):
    spec = QuantSpec(bits=bits, block_size=16, axis=axis)
    levels = codebook("nf", bits)
    gen = torch.Generator().manual_seed(0)
    # (batch, heads, tokens, head_dim) of codebook levels, each block containing a ±1 (its absmax).
    x = levels[torch.randint(0, 2**bits, (2, 3, 32, 64), generator=gen)]
    x[..., ::16] = 1.0
    x[:, :, ::16, :] = 1.0
    x = x * 0.5  # a scale exactly representable in fp16
    assert torch.equal(fake_quantize(x, spec), x)


@pytest.mark.parametrize("scale", ["absmax", "minmax"])
@pytest.mark.parametrize("axis", ["channels", "tokens"])
def test_error_within_half_the_largest_gap(scale, axis):
    spec = QuantSpec(bits=4, block_size=32, axis=axis, scale=scale)
    x = torch.randn(1, 2, 64, 64) * 3 + 1
    y = fake_quantize(x, spec)
    levels = codebook("nf", 4)
    half_gap = float((levels[1:] - levels[:-1]).max()) / 2
    # Block scale <= range/2 (minmax) or absmax; fp16 scale rounding adds a little.
    bound = half_gap * float(x.abs().max()) * 1.01
    assert float((x - y).abs().max()) <= bound


def test_more_bits_less_error_and_centring_helps_offset_blocks():
    x = torch.randn(1, 2, 128, 64)
    errors = [_sqnr_db(x, fake_quantize(x, QuantSpec(bits=b, block_size=32))) for b in (2, 3, 4)]
    assert errors[0] < errors[1] < errors[2]
    shifted = x + 4.0  # every block has a large common offset, as some key channels do
    plain = _sqnr_db(shifted, fake_quantize(shifted, QuantSpec(bits=2, block_size=32)))
    centred = _sqnr_db(shifted, fake_quantize(shifted, QuantSpec(bits=2, scale="minmax")))
    assert centred > plain + 5


@pytest.mark.parametrize(
    ("bits", "scale", "expected"),
    # codes + 2 bytes of fp16 scale per block (+2 for the offset), block 64 of a 64-dim head
    [(4, "absmax", 32 + 2), (3, "absmax", 24 + 2), (2, "absmax", 16 + 2), (4, "minmax", 32 + 4)],
)
def test_nbytes_is_exact(bits, scale, expected):
    x = torch.randn(2, 3, 10, 64)
    q = quantize(x, QuantSpec(bits=bits, block_size=64, scale=scale))
    assert q.nbytes() == 2 * 3 * 10 * expected
    # 4-bit absmax at block 64: 34 / 128 bytes of fp16 = 0.2656 of fp16.
    if bits == 4 and scale == "absmax":
        assert q.nbytes() / (x.numel() * 2) == pytest.approx(0.265625)


def test_token_axis_blocks_are_per_channel():
    spec = QuantSpec(bits=4, block_size=8, axis="tokens")
    x = torch.randn(1, 1, 16, 4)
    x[..., 2] *= 100  # one outlier channel must not hurt the others
    q = quantize(x, spec)
    assert q.scales.shape == (1, 1, 2, 4)  # (batch, heads, token blocks, channels)
    y = dequantize(q, spec, x.dtype)
    rel = ((x - y).abs().amax(dim=2) / x.abs().amax(dim=2)).squeeze()
    assert (rel < 0.2).all()


def test_rotation_round_trips_and_cat_appends_rows():
    spec = QuantSpec(bits=4, block_size=64, codebook="lloyd_max", scale="rms", rotate=True)
    x = torch.randn(1, 2, 6, 64)
    assert _sqnr_db(x, fake_quantize(x, spec)) > 15
    a, b = quantize(x[:, :, :4], spec), quantize(x[:, :, 4:], spec)
    joined = dequantize(a.cat(b), spec, x.dtype)
    torch.testing.assert_close(joined, fake_quantize(x, spec))

"""Codebooks: the published NF4 table, shapes and symmetry, and nearest-level rounding."""

from __future__ import annotations

import pytest
import torch

from model.nqkv.codebook import CodebookKind, codebook, nearest_codes

# bitsandbytes' NF4 table (QLoRA, arXiv 2305.14314, appendix E), to 4 decimals.
NF4_TABLE = [
    -1.0, -0.6962, -0.5251, -0.3949, -0.2844, -0.1848, -0.0911, 0.0,
    0.0796, 0.1609, 0.2461, 0.3379, 0.4407, 0.5626, 0.7230, 1.0,
]  # fmt: skip


def test_nf4_is_the_qlora_table():
    torch.testing.assert_close(codebook("nf", 4), torch.tensor(NF4_TABLE), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", list(CodebookKind))
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_levels_sorted_distinct_and_sized(kind, bits):
    tail = 0.9 if kind is CodebookKind.NF_TAIL else None
    levels = codebook(kind, bits, block_size=32, tail=tail)
    assert levels.shape == (2**bits,)
    assert (levels[1:] > levels[:-1]).all()
    if kind not in (CodebookKind.LLOYD_MAX, CodebookKind.INT_SYM):
        assert levels.min() == -1.0 and levels.max() == 1.0


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_nf_has_exact_zero_and_sym_variants_are_symmetric(bits):
    assert (codebook("nf", bits) == 0).sum() == 1
    for kind in ("nf_sym", "uniform", "lloyd_max"):
        levels = codebook(kind, bits)
        torch.testing.assert_close(levels, -levels.flip(0))


def test_lloyd_max_matches_published_gaussian_quantizer():
    # Max (1960), table I: 2-bit optimum levels ±0.4528, ±1.510.
    torch.testing.assert_close(
        codebook("lloyd_max", 2),
        torch.tensor([-1.5104, -0.4528, 0.4528, 1.5104]),
        atol=2e-4,
        rtol=0,
    )


def test_nf_block_inner_levels_are_equal_probability():
    levels = codebook("nf_block", 3, block_size=64)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(20000, 64, generator=gen)
    x = x / x.abs().amax(dim=1, keepdim=True)
    codes = nearest_codes(x[x.abs() < 1], levels)
    share = torch.bincount(codes.long(), minlength=8).float() / codes.numel()
    # The six inner bins are built to hold equal mass; rounding to the nearest level
    # shifts that a little, so only check they are all populated and none dominates.
    assert (share[1:-1] > 0.05).all() and (share < 0.35).all()


@pytest.mark.parametrize("kind", ["nf", "nf_sym", "uniform", "lloyd_max"])
def test_nearest_codes_match_brute_force(kind):
    levels = codebook(kind, 3)
    x = torch.randn(4, 257) * 1.5
    expected = (x.unsqueeze(-1) - levels).abs().argmin(dim=-1)
    assert torch.equal(nearest_codes(x, levels).long(), expected)
    assert nearest_codes(x, levels).dtype == torch.uint8


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_nf_tail_spans_nf_sym_to_uniform(bits):
    # At tail 1 - 2^-(k+1) the probabilities are nf_sym's (i + 1/2) / 2^k.
    torch.testing.assert_close(
        codebook("nf_tail", bits, tail=1 - 0.5 / 2**bits), codebook("nf_sym", bits)
    )
    # Near 1/2 the normal quantile is almost linear: the levels become uniform.
    torch.testing.assert_close(
        codebook("nf_tail", bits, tail=0.5001), codebook("uniform", bits), atol=1e-4, rtol=0
    )


def test_nf_tail_needs_a_valid_tail():
    from model.nqkv.config import QuantSpec

    with pytest.raises(ValueError, match="needs its tail"):
        codebook("nf_tail", 3)
    with pytest.raises(ValueError, match=r"must be in \(0.5, 1\)"):
        QuantSpec(codebook="nf_tail", tail=1.0)
    with pytest.raises(ValueError, match="exactly when codebook is 'nf_tail'"):
        QuantSpec(codebook="nf", tail=0.9)


def test_fit_tails_tracks_the_data_distribution():
    from model.nqkv.bench import fit_tails

    gen = torch.Generator().manual_seed(0)
    normal = torch.randn(1, 2, 256, 64, generator=gen)
    uniform = torch.rand(1, 2, 256, 64, generator=gen) * 2 - 1
    normal_tails = fit_tails([(normal, normal)], bits=3)
    uniform_tails = fit_tails([(uniform, uniform)], bits=3)
    # Gaussian blocks want bell-shaped levels, uniform blocks nearly uniform ones.
    assert min(normal_tails) > max(uniform_tails)


def test_unknown_bits_raise():
    with pytest.raises(ValueError, match="bits"):
        codebook("nf", 5)

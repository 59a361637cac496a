"""Codebooks: the normalised levels a block's elements are rounded to, all in [-1, 1].

A block is divided by its scale (its absmax, or half its range when centred), so every element
lands in [-1, 1] and is stored as the index of the nearest level. The levels decide the error:

- `nf`: the normal-float levels of QLoRA (arXiv 2305.14314), generalised to k bits. Levels are
  quantiles of N(0, 1) at equally spaced probabilities, 2^(k-1) on the positive side and
  2^(k-1) - 1 on the negative side, plus an exact zero, normalised so the outermost are ±1.
  For k = 4 this is exactly bitsandbytes' NF4 table. "Symmetric with an exact zero" cannot both
  hold for an even number of levels; this is the usual compromise (one extra positive level).
- `nf_sym`: 2^k symmetric normal quantiles at probabilities (i + 1/2) / 2^k, normalised to ±1; no
  zero level, but no wasted asymmetry either.
- `nf_block`: quantile levels of the distribution a block element *actually* has after absmax
  normalisation of a Gaussian block of `block_size` elements (estimated by Monte Carlo with a fixed
  seed): equal-probability levels of x / max|x|, with ±1 kept because every block hits them.
- `nf_tail`: `nf_sym` with its span fitted: 2^k normal quantiles at equally spaced probabilities
  from 1 - t to t, normalised to ±1. The tail probability t is a parameter (nf_sym is
  t = 1 - 2^-(k+1)); fitted to a model's measured K/V it says how normal the blocks really are:
  t near 1 spreads the inner levels like a bell, t -> 1/2 makes them uniform.
- `uniform`: 2^k evenly spaced levels over [-1, 1] (what a min-max integer quantizer uses).
- `int_sym`: the signed integers -2^(k-1) .. 2^(k-1) - 1 divided by 2^(k-1) - 1, i.e. symmetric
  integer quantization with scale absmax / (2^(k-1) - 1) (the most negative code is unused by the
  absmax itself, as in int4 per-token-head schemes).
- `lloyd_max`: the mean-squared-error optimal levels for N(0, 1) (Lloyd 1982, Max 1960), *not*
  normalised (they are used with an RMS scale, as the rotation peer does); the outer levels are
  about ±2.7 at 4 bits.

Codebooks are small (<= 16 floats), computed once per (kind, bits, block_size) and cached.
"""

from __future__ import annotations

import functools
from enum import StrEnum

import torch

SUPPORTED_BITS = (2, 3, 4)


class CodebookKind(StrEnum):
    NF = "nf"
    NF_SYM = "nf_sym"
    NF_BLOCK = "nf_block"
    NF_TAIL = "nf_tail"
    UNIFORM = "uniform"
    INT_SYM = "int_sym"
    LLOYD_MAX = "lloyd_max"


def _norm_ppf(p: torch.Tensor) -> torch.Tensor:
    # Inverse CDF of N(0, 1) in float64: sqrt(2) * erfinv(2p - 1).
    return torch.special.ndtri(p.double())


def nf_levels(bits: int) -> torch.Tensor:
    """QLoRA's normal-float levels for `bits` bits (2^bits values, exact zero, max exactly 1)."""
    num_pos = 2 ** (bits - 1)
    num_neg = num_pos - 1
    # bitsandbytes' NF4 uses offset 0.9677 = 1 - (1/32 + 1/30) / 2; this is its k-bit form, so the
    # outermost level is the quantile halfway between the last two "bins" of 2^k and 2^k - 1.
    offset = 1.0 - 0.5 * (1.0 / (2 * 2**bits) + 1.0 / (2 * (2**bits - 1)))
    pos = _norm_ppf(torch.linspace(offset, 0.5, num_pos + 1, dtype=torch.float64)[:-1])
    neg = -_norm_ppf(torch.linspace(offset, 0.5, num_neg + 1, dtype=torch.float64)[:-1])
    levels = torch.cat([pos, torch.zeros(1, dtype=torch.float64), neg]).sort().values
    return levels / levels.abs().max()


def nf_sym_levels(bits: int) -> torch.Tensor:
    """2^bits symmetric normal quantiles at probabilities (i + 1/2) / 2^bits, outermost ±1."""
    num = 2**bits
    probs = (torch.arange(num, dtype=torch.float64) + 0.5) / num
    levels = _norm_ppf(probs)
    return levels / levels.abs().max()


def nf_block_levels(bits: int, block_size: int, num_samples: int = 1 << 20) -> torch.Tensor:
    """Quantiles of x / max|x| over Gaussian blocks of `block_size`, with ±1 kept exactly.

    Each block holds one element at exactly ±1 (its absmax); the other block_size - 1 follow the
    normalised distribution whose equal-probability quantiles fill the 2^bits - 2 inner levels.
    """
    gen = torch.Generator().manual_seed(0)
    num_blocks = max(1, num_samples // block_size)
    x = torch.randn(num_blocks, block_size, generator=gen, dtype=torch.float64)
    x = x / x.abs().amax(dim=1, keepdim=True)
    # Drop each block's own absmax element: it is always ±1 and already has its level.
    inner = x.masked_fill(x.abs() >= 1.0, float("nan")).flatten()
    inner = inner[~inner.isnan()]
    num_inner = 2**bits - 2
    probs = (torch.arange(num_inner, dtype=torch.float64) + 0.5) / num_inner
    inner_levels = torch.quantile(inner.float(), probs.float()).double()
    return torch.cat([torch.tensor([-1.0], dtype=torch.float64), inner_levels, torch.ones(1)])


def nf_tail_levels(bits: int, tail: float) -> torch.Tensor:
    """2^bits normal quantiles at probabilities evenly spaced over [1 - tail, tail], outermost ±1."""
    if not 0.5 < tail < 1.0:
        raise ValueError(f"tail {tail!r} must be in (0.5, 1), e.g. 0.9")
    levels = _norm_ppf(torch.linspace(1.0 - tail, tail, 2**bits, dtype=torch.float64))
    return levels / levels.abs().max()


def uniform_levels(bits: int) -> torch.Tensor:
    return torch.linspace(-1.0, 1.0, 2**bits, dtype=torch.float64)


def lloyd_max_levels(bits: int, num_iters: int = 200) -> torch.Tensor:
    """MSE-optimal scalar quantizer levels for N(0, 1) by Lloyd's iteration (closed-form centroids)."""
    levels = _norm_ppf((torch.arange(2**bits, dtype=torch.float64) + 0.5) / 2**bits)
    sqrt_2pi = (2 * torch.pi) ** 0.5
    for _ in range(num_iters):
        edges = (levels[1:] + levels[:-1]) / 2
        lo = torch.cat([torch.tensor([-torch.inf], dtype=torch.float64), edges])
        hi = torch.cat([edges, torch.tensor([torch.inf], dtype=torch.float64)])
        pdf_lo = torch.exp(-0.5 * lo.clamp(-40, 40) ** 2) / sqrt_2pi
        pdf_hi = torch.exp(-0.5 * hi.clamp(-40, 40) ** 2) / sqrt_2pi
        mass = torch.special.ndtr(hi) - torch.special.ndtr(lo)
        # Centroid of N(0,1) on [lo, hi]: (pdf(lo) - pdf(hi)) / (cdf(hi) - cdf(lo)).
        levels = (pdf_lo - pdf_hi) / mass
    return levels


@functools.cache
def _levels(kind: CodebookKind, bits: int, block_size: int, tail: float | None) -> torch.Tensor:
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"unsupported bits {bits}; use one of {SUPPORTED_BITS}")
    if kind is CodebookKind.NF_TAIL:
        if tail is None:
            raise ValueError("the nf_tail codebook needs its tail probability, e.g. tail=0.9")
        return nf_tail_levels(bits, tail).float()
    if kind is CodebookKind.NF:
        return nf_levels(bits).float()
    if kind is CodebookKind.NF_SYM:
        return nf_sym_levels(bits).float()
    if kind is CodebookKind.NF_BLOCK:
        return nf_block_levels(bits, block_size).float()
    if kind is CodebookKind.UNIFORM:
        return uniform_levels(bits).float()
    if kind is CodebookKind.INT_SYM:
        half = 2 ** (bits - 1)
        return (torch.arange(-half, half, dtype=torch.float64) / (half - 1)).float()
    return lloyd_max_levels(bits).float()


def codebook(
    kind: CodebookKind | str, bits: int, block_size: int = 64, tail: float | None = None
) -> torch.Tensor:
    """The sorted float32 levels of a codebook (a fresh copy; safe to move to any device)."""
    return _levels(CodebookKind(kind), bits, block_size, tail).clone()


def nearest_codes(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Index (uint8) of the nearest level for every element of `x`; `levels` sorted ascending.

    Uses the midpoints between neighbours as decision boundaries (bucketize), so memory stays
    O(x) instead of O(x * levels).
    """
    edges = (levels[1:] + levels[:-1]) / 2
    return torch.bucketize(x.contiguous(), edges.to(x.device, x.dtype)).to(torch.uint8)

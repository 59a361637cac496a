"""Block quantization of KV tensors: scale each block, store the nearest codebook index, pack.

Input is one layer's keys or values, (batch, heads, tokens, head_dim). Both grouping axes are
brought to the same layout, (batch, heads, rows, blocks_per_row, block_size), so one code path
serves them:

- CHANNELS: a row is a token; its head_dim channels split into head_dim / B blocks.
- TOKENS: a row is a run of B tokens; each of the head_dim channels is one block of B tokens.

Rows are what the cache appends, so `QuantizedBlocks.cat` is a concatenation along dim 2.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from model.nqkv.codebook import nearest_codes
from model.nqkv.config import GroupAxis, QuantSpec, ScaleMode
from model.nqkv.packing import pack_codes, unpack_codes

SCALE_DTYPE = torch.float16


@dataclass
class QuantizedBlocks:
    """Packed codes plus per-block fp16 scales (and offsets) for `num_tokens` tokens."""

    codes: torch.Tensor  # (batch, heads, rows, packed bytes per row), uint8
    scales: torch.Tensor  # (batch, heads, rows, blocks_per_row), fp16
    offsets: torch.Tensor | None  # same shape as scales, fp16, for ScaleMode.MINMAX
    num_tokens: int
    head_dim: int

    def nbytes(self) -> int:
        total = self.codes.numel() * self.codes.element_size()
        total += self.scales.numel() * self.scales.element_size()
        if self.offsets is not None:
            total += self.offsets.numel() * self.offsets.element_size()
        return total

    def cat(self, other: QuantizedBlocks) -> QuantizedBlocks:
        offsets = None
        if self.offsets is not None and other.offsets is not None:
            offsets = torch.cat([self.offsets, other.offsets], dim=2)
        return QuantizedBlocks(
            torch.cat([self.codes, other.codes], dim=2),
            torch.cat([self.scales, other.scales], dim=2),
            offsets,
            self.num_tokens + other.num_tokens,
            self.head_dim,
        )

    def select_batch(self, index: torch.Tensor) -> QuantizedBlocks:
        pick = lambda t: t.index_select(0, index.to(t.device))  # noqa: E731
        offsets = None if self.offsets is None else pick(self.offsets)
        return QuantizedBlocks(
            pick(self.codes), pick(self.scales), offsets, self.num_tokens, self.head_dim
        )

    def select_rows(self, index: torch.Tensor, tokens_per_row: int) -> QuantizedBlocks:
        """Keep the rows (dim 2: a token, or a run of block_size tokens) listed in `index`."""
        pick = lambda t: t.index_select(2, index.to(t.device))  # noqa: E731
        offsets = None if self.offsets is None else pick(self.offsets)
        num_tokens = int(index.numel()) * tokens_per_row
        return QuantizedBlocks(
            pick(self.codes), pick(self.scales), offsets, num_tokens, self.head_dim
        )

    @staticmethod
    def cat_batch(parts: list[QuantizedBlocks]) -> QuantizedBlocks:
        """Stack parts of equal token counts along the batch (dim 0)."""
        assert len({p.num_tokens for p in parts}) == 1, "batch parts must hold the same tokens"
        offsets = None
        if all(p.offsets is not None for p in parts):
            offsets = torch.cat([p.offsets for p in parts])  # type: ignore[misc]
        return QuantizedBlocks(
            torch.cat([p.codes for p in parts]),
            torch.cat([p.scales for p in parts]),
            offsets,
            parts[0].num_tokens,
            parts[0].head_dim,
        )


@functools.cache
def _rotation_cpu(head_dim: int) -> torch.Tensor:
    # A fixed random orthogonal matrix (seeded QR), so quantize and dequantize agree everywhere.
    gen = torch.Generator().manual_seed(head_dim)
    q, r = torch.linalg.qr(torch.randn(head_dim, head_dim, generator=gen, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


def rotation(head_dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return _rotation_cpu(head_dim).to(device=device, dtype=dtype)


def _to_blocks(x: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    """(batch, heads, tokens, head_dim) -> (batch, heads, rows, blocks_per_row, block_size)."""
    batch, heads, tokens, head_dim = x.shape
    size = spec.block_size
    if spec.axis is GroupAxis.CHANNELS:
        return x.reshape(batch, heads, tokens, head_dim // size, size)
    assert tokens % size == 0, "token-grouped blocks need whole runs of block_size tokens"
    # (batch, heads, rows, block_size, head_dim) -> (batch, heads, rows, head_dim, block_size)
    return x.reshape(batch, heads, tokens // size, size, head_dim).transpose(-1, -2)


def _from_blocks(blocks: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    batch, heads, rows = blocks.shape[:3]
    if spec.axis is GroupAxis.CHANNELS:
        return blocks.reshape(batch, heads, rows, -1)
    return blocks.transpose(-1, -2).reshape(batch, heads, rows * spec.block_size, -1)


def quantize(x: torch.Tensor, spec: QuantSpec) -> QuantizedBlocks:
    """Quantize (batch, heads, tokens, head_dim) to packed codes and fp16 block scales."""
    batch, heads, tokens, head_dim = x.shape
    spec.check_head_dim(head_dim)
    work = x.float()
    if spec.rotate:
        work = work @ rotation(head_dim, x.device, work.dtype)
    blocks = _to_blocks(work, spec)
    offsets = None
    if spec.scale is ScaleMode.ABSMAX:
        scales = blocks.abs().amax(dim=-1)
    elif spec.scale is ScaleMode.MINMAX:
        high, low = blocks.amax(dim=-1), blocks.amin(dim=-1)
        offsets = ((high + low) / 2).to(SCALE_DTYPE)
        scales = (high - low) / 2
        blocks = blocks - offsets.float().unsqueeze(-1)
    else:
        scales = blocks.pow(2).mean(dim=-1).sqrt()
    # Normalise by the scale as stored (fp16), so dequantization sees exactly what we rounded to.
    scales = scales.clamp_min(1e-6).to(SCALE_DTYPE)
    normalised = blocks / scales.float().unsqueeze(-1)
    levels = spec.levels(x.device)
    codes = nearest_codes(normalised, levels)
    rows = codes.shape[2]
    packed = pack_codes(codes.reshape(batch, heads, rows, -1), spec.bits)
    return QuantizedBlocks(packed, scales, offsets, tokens, head_dim)


def dequantize(q: QuantizedBlocks, spec: QuantSpec, dtype: torch.dtype) -> torch.Tensor:
    """Packed codes -> (batch, heads, tokens, head_dim) in `dtype`."""
    batch, heads, rows, blocks_per_row = q.scales.shape
    block_size = q.head_dim * q.num_tokens // (rows * blocks_per_row) if rows else spec.block_size
    codes = unpack_codes(q.codes, spec.bits, blocks_per_row * block_size)
    levels = spec.levels(q.codes.device)
    values = levels[codes.long()].reshape(batch, heads, rows, blocks_per_row, block_size)
    values = values * q.scales.float().unsqueeze(-1)
    if q.offsets is not None:
        values = values + q.offsets.float().unsqueeze(-1)
    out = _from_blocks(values, spec)
    if spec.rotate:
        out = out @ rotation(q.head_dim, out.device, out.dtype).T
    return out.to(dtype)


def fake_quantize(x: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    """quantize -> dequantize, for error measurements (same dtype as `x`)."""
    return dequantize(quantize(x, spec), spec, x.dtype)

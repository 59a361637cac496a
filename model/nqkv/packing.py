"""Dense bit-packing of 2-, 3- and 4-bit codes into uint8, along the last dimension.

`bits` codes are packed little-endian into groups: 4 codes a byte at 2 bits, 2 codes a byte at
4 bits, and 8 codes in 3 bytes at 3 bits (no padding bits inside a group). Each group is built as
one int32 word (at most 24 bits used), then split into bytes, so the whole thing is a handful of
vectorised tensor ops on any device. A last dimension that is not a multiple of the group is
zero-padded; `unpack_codes` takes the true length back.
"""

from __future__ import annotations

import torch

# bits -> (codes per group, bytes per group)
_GROUPS = {2: (4, 1), 3: (8, 3), 4: (2, 1)}


def _group(bits: int) -> tuple[int, int]:
    if bits not in _GROUPS:
        raise ValueError(f"cannot pack {bits}-bit codes; use 2, 3 or 4 bits")
    return _GROUPS[bits]


def packed_nbytes(num_codes: int, bits: int) -> int:
    """Bytes that `num_codes` codes of `bits` bits take when packed (padding included)."""
    codes_per_group, bytes_per_group = _group(bits)
    return -(-num_codes // codes_per_group) * bytes_per_group


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(..., n) uint8 codes < 2^bits -> (..., packed_nbytes(n, bits)) uint8."""
    codes_per_group, bytes_per_group = _group(bits)
    n = codes.shape[-1]
    pad = -n % codes_per_group
    if pad:
        codes = torch.nn.functional.pad(codes, (0, pad))
    # (..., groups, codes_per_group): shift code i of a group by bits * i and sum into one word.
    grouped = codes.reshape(*codes.shape[:-1], -1, codes_per_group).to(torch.int32)
    shifts = torch.arange(codes_per_group, device=codes.device, dtype=torch.int32) * bits
    words = (grouped << shifts).sum(dim=-1, dtype=torch.int32)
    # (..., groups, bytes_per_group): byte j of each word.
    byte_shifts = torch.arange(bytes_per_group, device=codes.device, dtype=torch.int32) * 8
    packed = (words.unsqueeze(-1) >> byte_shifts) & 0xFF
    return packed.reshape(*codes.shape[:-1], -1).to(torch.uint8)


def unpack_codes(packed: torch.Tensor, bits: int, num_codes: int) -> torch.Tensor:
    """Inverse of `pack_codes`: (..., nbytes) uint8 -> (..., num_codes) uint8."""
    codes_per_group, bytes_per_group = _group(bits)
    grouped = packed.reshape(*packed.shape[:-1], -1, bytes_per_group).to(torch.int32)
    byte_shifts = torch.arange(bytes_per_group, device=packed.device, dtype=torch.int32) * 8
    words = (grouped << byte_shifts).sum(dim=-1, dtype=torch.int32)
    shifts = torch.arange(codes_per_group, device=packed.device, dtype=torch.int32) * bits
    codes = (words.unsqueeze(-1) >> shifts) & ((1 << bits) - 1)
    return codes.reshape(*packed.shape[:-1], -1)[..., :num_codes].to(torch.uint8)

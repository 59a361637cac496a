"""Input checks shared by the launchers: a bad shape or dtype is a one-line ValueError, never a
crash inside a kernel (which on a GPU would be an illegal memory access much later)."""

from __future__ import annotations

import torch

from model.nqkv.kernels.layout import PagedNQKVLayout

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
INDEX_DTYPES = (torch.int32, torch.int64)


def check_cache(kv_cache: torch.Tensor, layout: PagedNQKVLayout) -> torch.Tensor:
    """Validate the cache and return its fp16 view (through which the kernels touch scales)."""
    if kv_cache.dtype != torch.uint8:
        raise ValueError(f"kv_cache must be uint8 (packed NQKV rows), got {kv_cache.dtype}")
    expected = layout.cache_shape(kv_cache.shape[0]) if kv_cache.dim() == 5 else None
    if tuple(kv_cache.shape) != expected:
        raise ValueError(
            f"kv_cache shape {tuple(kv_cache.shape)} does not match the layout; expected "
            "(num_blocks, 2, block_size, num_kv_heads, row_bytes) = "
            f"(num_blocks, 2, {layout.block_size}, {layout.num_kv_heads}, {layout.row_bytes})"
        )
    if kv_cache.stride(-1) != 1 or any(stride % 2 for stride in kv_cache.stride()[:-1]):
        raise ValueError("kv_cache rows must be contiguous bytes starting at even offsets")
    return kv_cache.view(torch.float16)


def check_float(name: str, tensor: torch.Tensor, shape: tuple[int, ...]) -> None:
    if tensor.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float16, bfloat16 or float32, got {tensor.dtype}")
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {shape}")


def check_index(name: str, tensor: torch.Tensor, dim: int) -> None:
    if tensor.dtype not in INDEX_DTYPES:
        raise ValueError(f"{name} must be int32 or int64, got {tensor.dtype}")
    if tensor.dim() != dim:
        raise ValueError(f"{name} must have {dim} dimension(s), got shape {tuple(tensor.shape)}")


def check_same_device(kv_cache: torch.Tensor, **tensors: torch.Tensor) -> None:
    for name, tensor in tensors.items():
        if tensor.device != kv_cache.device:
            raise ValueError(f"{name} is on {tensor.device} but kv_cache is on {kv_cache.device}")


def check_block_table(block_table: torch.Tensor, seq_lens: torch.Tensor) -> None:
    check_index("block_table", block_table, 2)
    check_index("seq_lens", seq_lens, 1)
    if block_table.shape[0] != seq_lens.shape[0]:
        raise ValueError(
            f"block_table has {block_table.shape[0]} rows but seq_lens {seq_lens.shape[0]} entries"
        )
    if block_table.stride(-1) != 1:
        raise ValueError("block_table rows must be contiguous")


def last_dim_contiguous(tensor: torch.Tensor) -> torch.Tensor:
    """The kernels index head_size with stride 1; copy only when that is not already so."""
    return tensor if tensor.stride(-1) == 1 else tensor.contiguous()


def row_alignment(kv_cache: torch.Tensor) -> int:
    """Largest power of two (<= 16) dividing every row's byte offset: a hint that lets the
    kernels load and store packed bytes in wide accesses instead of byte by byte."""
    align = 16
    for stride in kv_cache.stride()[:-1]:
        while stride % align:
            align //= 2
    return align

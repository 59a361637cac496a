"""Small paged caches for the kernel tests, filled through the torch reference."""

from __future__ import annotations

import torch

from model.nqkv.kernels import PagedNQKVLayout, reference_store


def filled_cache(
    layout: PagedNQKVLayout, num_blocks: int, seed: int = 0, device: str = "cpu"
) -> torch.Tensor:
    """A cache whose every slot holds the NQKV rows of random K/V (written by the reference)."""
    gen = torch.Generator().manual_seed(seed)
    num_slots = num_blocks * layout.block_size
    shape = (num_slots, layout.num_kv_heads, layout.head_size)
    key, value = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    cache = torch.zeros(layout.cache_shape(num_blocks), dtype=torch.uint8)
    reference_store(key, value, cache, torch.arange(num_slots), layout)
    return cache.to(device)


def random_block_table(
    num_seqs: int, max_blocks: int, num_blocks: int, seed: int = 0
) -> torch.Tensor:
    """(num_seqs, max_blocks) int32 distinct block ids in random order (pages need not be in
    order or contiguous, as in vLLM)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randperm(num_blocks, generator=gen)[: num_seqs * max_blocks]
    return ids.reshape(num_seqs, max_blocks).to(torch.int32)

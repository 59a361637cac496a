"""The preallocated cache's merge and select write each kept token once into new buffers: the
tokens land exactly where the generic dense path (pad, concatenate, build) puts them, the left
padding is zero (masked, but finite: a masked score is still computed), and there is room to
grow without another copy."""

from __future__ import annotations

import torch

from model.engine.kv_cache import (
    KVCacheKind,
    PreallocatedKVCacheKind,
    PreallocatedLayer,
    merge_caches,
    select_rows,
)
from tests.model.engine.tiny_models import tiny_causal_lm

CONFIG = tiny_causal_lm("llama").config


def _part(kind: KVCacheKind, rows: int, tokens: int, seed: int) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    layers = CONFIG.num_hidden_layers
    tensors = [
        (
            torch.randn(rows, 2, tokens, 8, generator=generator),
            torch.randn(rows, 2, tokens, 8, generator=generator),
        )
        for _ in range(layers)
    ]
    return kind.build(CONFIG, tensors), torch.ones(rows, tokens, dtype=torch.long)


def test_merge_and_select_match_the_dense_path_and_leave_room() -> None:
    fast, dense = PreallocatedKVCacheKind(), KVCacheKind()
    shapes = [(2, 5, 0), (1, 9, 1), (3, 7, 2)]
    merged, mask = merge_caches(fast, CONFIG, [_part(fast, *shape) for shape in shapes])
    want, want_mask = merge_caches(dense, CONFIG, [_part(dense, *shape) for shape in shapes])
    assert torch.equal(mask, want_mask)
    for (keys, values), (want_keys, want_values) in zip(
        fast.tensors(merged), dense.tensors(want), strict=True
    ):
        assert torch.equal(keys, want_keys) and torch.equal(values, want_values)
    layer = merged.layers[0]
    assert isinstance(layer, PreallocatedLayer)
    room = 9 + PreallocatedLayer.GROW_TOKENS
    assert layer.reserve(room)[0].shape[2] == room  # already there: no regrowth

    rows = [4, 0, 5]  # the 9-token row leaves: two leading columns are padding in all the rest
    kept, kept_mask = select_rows(fast, CONFIG, merged, mask, rows)
    want_kept, want_kept_mask = select_rows(dense, CONFIG, want, want_mask, rows)
    assert torch.equal(kept_mask, want_kept_mask) and kept_mask.shape[1] == 7
    for (keys, values), (want_keys, want_values) in zip(
        fast.tensors(kept), dense.tensors(want_kept), strict=True
    ):
        assert torch.equal(keys, want_keys) and torch.equal(values, want_values)


def test_merged_padding_is_zero_not_leftover_memory() -> None:
    fast = PreallocatedKVCacheKind()
    for _ in range(3):  # fresh buffers come from new_empty: never trust their contents
        merged, mask = merge_caches(fast, CONFIG, [_part(fast, 1, 3, 0), _part(fast, 1, 12, 1)])
        keys, values = fast.tensors(merged)[0]
        assert (
            torch.count_nonzero(keys[0, :, :9]) == 0 and torch.count_nonzero(values[0, :, :9]) == 0
        )
        assert torch.isfinite(keys).all() and mask[0].tolist() == [0] * 9 + [1] * 3

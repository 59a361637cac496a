"""Merging and selecting NQKV caches on the stored codes (model/nqkv/batching.py).

K/V are synthetic (keys with a per-channel offset, as real keys have) and fed straight into the
caches, so no model runs. Three rows of 77, 50 and 21 tokens with a window of 8 and token blocks
of 32 have bodies of 64, 32 and 0 tokens and tails of 13, 18 and 21: a merge pads bodies and
tails differently per row, the case where dense re-storing re-quantizes.
"""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig

from model.nqkv import NQKVCache, NQKVConfig, batching
from model.nqkv.cache import NQKVLayer
from model.nqkv.variants import variant_config

LENGTHS = (77, 50, 21)
CONFIG = LlamaConfig(
    vocab_size=97,
    hidden_size=256,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,  # head_dim 64
)


def _kv(num: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    offset = 3 * torch.randn(1, 2, 1, 64, generator=torch.Generator().manual_seed(99))
    return torch.randn(1, 2, num, 64, generator=gen) + offset, torch.randn(
        1, 2, num, 64, generator=gen
    )


def _cache(config: NQKVConfig, keys: torch.Tensor, values: torch.Tensor) -> NQKVCache:
    cache = NQKVCache(config, CONFIG)
    for layer in cache.layers:
        layer.update(keys, values)
    return cache


def _rows(config: NQKVConfig) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list]:
    full = [_kv(num, seed) for seed, num in enumerate(LENGTHS)]
    parts = [(_cache(config, k, v), torch.ones(1, k.shape[-2], dtype=torch.long)) for k, v in full]
    return full, parts


def _layer(cache: NQKVCache, idx: int = 0) -> NQKVLayer:
    layer = cache.layers[idx]
    assert isinstance(layer, NQKVLayer)
    return layer


CONFIGS = {
    "fit": variant_config("fit", 4, residual_tokens=8),
    "fit-sinks": variant_config("fit", 3, residual_tokens=8, num_sink_tokens=3),
    "paper": variant_config("paper", 4, residual_tokens=8),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_merge_keeps_every_stored_token_exactly(name: str) -> None:
    config = CONFIGS[name]
    _, parts = _rows(config)
    merged, mask = batching.merge(parts, NQKVCache(config, CONFIG))
    assert mask.shape == (3, merged.get_seq_length())
    for layer_idx in range(2):
        keys, values = _layer(merged, layer_idx).dense()
        for row, (cache, _) in enumerate(parts):
            real = mask[row].bool()  # the row's own columns, in order
            solo_keys, solo_values = _layer(cache, layer_idx).dense()
            assert torch.equal(keys[row][:, real], solo_keys[0])
            assert torch.equal(values[row][:, real], solo_values[0])
    if config.num_sink_tokens:  # each row keeps its own first tokens as sinks
        assert mask[:, : config.num_sink_tokens].all()


def test_tail_padding_copies_the_rows_first_tail_token() -> None:
    """So when the batch moves padded columns into a centred block, its range does not grow."""
    _, parts = _rows(CONFIGS["fit"])
    merged, mask = batching.merge(parts, NQKVCache(CONFIGS["fit"], CONFIG))
    layer, tail = _layer(merged), _layer(merged).keys.shape[-2]
    tail_mask = mask[:, -tail:]
    for row in range(3):
        first = int(tail_mask[row].nonzero()[0])
        assert first == tail - _layer(parts[row][0]).keys.shape[-2]
        pads = layer.keys[row, :, :first]
        assert torch.equal(pads, layer.keys[row, :, first : first + 1].expand_as(pads))


@pytest.mark.parametrize("name", CONFIGS)
def test_select_gives_back_the_solo_cache(name: str) -> None:
    config = CONFIGS[name]
    _, parts = _rows(config)
    merged, mask = batching.merge(parts, NQKVCache(config, CONFIG))
    for row, (cache, _) in enumerate(parts):
        alone, alone_mask = batching.select(merged, mask, [row], NQKVCache(config, CONFIG))
        assert alone_mask.all() and alone_mask.shape[1] == cache.get_seq_length()
        for got, want in zip(alone.dense_tensors(), cache.dense_tensors(), strict=True):
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert alone.nbytes() == cache.nbytes()  # every padding column is gone
    # Rows of 21 and 50 tokens: the body columns only the 77-token row filled go.
    two, two_mask = batching.select(merged, mask, [2, 1], NQKVCache(config, CONFIG))
    assert two_mask.sum(dim=1).tolist() == [LENGTHS[2], LENGTHS[1]]
    assert two_mask.shape[1] == two.get_seq_length() < mask.shape[1]
    assert two_mask.any(dim=0).all()  # no column is padding in both


def test_dense_restoring_would_requantize_token_blocks() -> None:
    """Why merge works on the codes: storing dequantized, shifted keys again changes them."""
    config = CONFIGS["fit"]
    _, parts = _rows(config)
    cache = parts[1][0]  # 50 tokens: a body block of 32 that a left pad of 27 would shift
    keys, values = _layer(cache).dense()
    restored = NQKVCache(config, CONFIG)
    pad = (0, 0, LENGTHS[0] - LENGTHS[1], 0)
    _layer(restored).store(torch.nn.functional.pad(keys, pad), torch.nn.functional.pad(values, pad))
    assert not torch.equal(_layer(restored).dense()[0][:, :, pad[2] :], keys)


def _attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return torch.softmax(q @ keys.transpose(-1, -2) / math.sqrt(keys.shape[-1]), dim=-1) @ values


def _relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    return float((approx - exact).norm() / exact.norm())


def _sqnr_db(approx: torch.Tensor, exact: torch.Tensor) -> float:
    return 10 * math.log10(float(exact.pow(2).sum() / (approx - exact).pow(2).sum()))


@pytest.mark.parametrize("bits", [4, 2])
def test_decoding_after_a_merge_stays_as_close_to_full_precision_as_solo(bits: int) -> None:
    """40 more tokens: a padded row's next blocks are grouped differently than solo (flushed
    from the batch's first tail column), so rows differ from their solo caches, but each token is
    still quantized once by the same rule. Stated tolerance: the row's attention output is within
    1.1x the solo run's relative error against full precision, its K/V SQNR within 0.5 dB."""
    config = variant_config("fit", bits, residual_tokens=8)
    full, parts = _rows(config)
    solos = [_cache(config, k, v) for k, v in full]
    merged, mask = batching.merge(parts, NQKVCache(config, CONFIG))
    more = [_kv(40, 10 + row) for row in range(3)]
    layer = _layer(merged)
    for step in range(40):
        new = [(k[:, :, step : step + 1], v[:, :, step : step + 1]) for k, v in more]
        layer.update(torch.cat([k for k, _ in new]), torch.cat([v for _, v in new]))
        mask = torch.cat([mask, torch.ones(3, 1, dtype=mask.dtype)], dim=1)
        for solo, (k, v) in zip(solos, new, strict=True):
            _layer(solo).update(k, v)
    assert layer.body_keys is not None and layer.body_keys.num_tokens >= 96  # flushed since
    keys, values = layer.dense()
    query = 0.5 * torch.randn(1, 2, 8, 64, generator=torch.Generator().manual_seed(7))
    for row in range(3):
        exact_keys = torch.cat([full[row][0], more[row][0]], dim=-2)
        exact_values = torch.cat([full[row][1], more[row][1]], dim=-2)
        real = mask[row].bool()
        row_keys, row_values = keys[row : row + 1, :, real], values[row : row + 1, :, real]
        solo_keys, solo_values = _layer(solos[row]).dense()
        exact = _attention(query, exact_keys, exact_values)
        solo_error = _relative_error(_attention(query, solo_keys, solo_values), exact)
        row_error = _relative_error(_attention(query, row_keys, row_values), exact)
        assert row_error <= 1.1 * solo_error + 1e-6
        assert _sqnr_db(row_keys, exact_keys) >= _sqnr_db(solo_keys, exact_keys) - 0.5
        assert _sqnr_db(row_values, exact_values) >= _sqnr_db(solo_values, exact_values) - 0.5


def test_caches_with_sliding_layers_are_not_merged_on_the_codes() -> None:
    """A tail pad would shorten a sliding window's real tokens: those caches go the dense way."""
    config = LlamaConfig(**{**CONFIG.to_dict(), "sliding_window": 16})
    config.layer_types = ["sliding_attention", "full_attention"]
    cache = NQKVCache(CONFIGS["fit"], config)
    keys, values = _kv(20, 0)
    for layer in cache.layers:
        layer.update(keys, values)
    assert not isinstance(cache.layers[0], NQKVLayer)
    assert not batching.is_batchable(cache)
    assert batching.is_batchable(_rows(CONFIGS["fit"])[1][0][0])

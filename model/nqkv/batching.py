"""Continuous batching of NQKV caches on the stored codes: merge caches, keep some rows.

The engine merges the cache of a sequence that joins a running batch into the batch's cache and
drops the rows that finish (model/engine/kv_cache.py). Doing that by dequantizing and storing
again is exact only when every block lies inside one token (channel-grouped blocks). With keys
grouped per channel in blocks of B tokens, left-padding a row by p columns moves its block
boundaries by p, so storing again re-quantizes its tokens in new blocks: one more rounding per
merge, and padding zeros widen a centred block's range. So merge and select move the stored
state instead. Every NQKV layer of a cache holds the same columns, the attention mask's:

    [ sinks (full precision) | body (quantized, whole units) | tail (full precision) ]

A unit is the layer's `granularity` in tokens: one key block of B tokens when keys are grouped
per channel, else one token. A merge pads every part region by region to the widest part: the
sinks on the left with zeros, the body on the left with whole units of zeros, the tail on the left
with copies of the row's first tail token; padding columns get 0 in the mask. The body's codes and
scales are copied, so every real token reads back exactly as before the merge. A select keeps the
listed rows and drops the columns that are padding in all of them (whole units in the body; the
sinks stay, so they remain the oldest columns).

What a merge cannot keep is the phase of future blocks: the batch moves its oldest tail columns
into the body a unit at a time, so a row whose tail was padded has its next blocks start where a
solo run's would not. Those tokens are quantized once, by the same rule and block size, just
grouped differently (and a padding copy of the row's own first tail token never widens a block's
range; a row with an empty tail is padded with zeros). Sliding-window layers (gemma-3) keep a
window of columns, which tail padding would shorten, so caches holding them take the dense path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from transformers import Cache

from model.nqkv.cache import NQKVLayer
from model.nqkv.config import GroupAxis, QuantSpec
from model.nqkv.quantize import QuantizedBlocks, quantize

Part = tuple[Cache, torch.Tensor]  # an NQKV cache and its (rows, columns) attention mask
KV = tuple[torch.Tensor, torch.Tensor]  # (keys, values), each (batch, kv_heads, tokens, head_dim)


@dataclass(frozen=True)
class Columns:
    """How many of a cache's columns are sinks, quantized body and full-precision tail."""

    sinks: int
    body: int
    tail: int

    REGIONS: ClassVar[tuple[str, ...]] = ("sinks", "body", "tail")  # in column order

    @property
    def total(self) -> int:
        return self.sinks + self.body + self.tail


def is_batchable(cache: Cache) -> bool:
    """Whether merge/select here apply: every layer an initialized NQKV layer."""
    return all(isinstance(layer, NQKVLayer) and layer.is_initialized for layer in cache.layers)


def merge(parts: Sequence[Part], empty: Cache) -> Part:
    """Stack the parts' rows into `empty` (a fresh cache of the same kind) and their masks."""
    layouts = [_columns(cache, mask) for cache, mask in parts]
    target = Columns(*(max(getattr(c, name) for c in layouts) for name in Columns.REGIONS))
    masks = [_spread(mask, have, target) for (_, mask), have in zip(parts, layouts, strict=True)]
    for layer_idx, out in enumerate(empty.layers):
        rows = [
            (_nqkv_layer(cache.layers[layer_idx]), have)
            for (cache, _), have in zip(parts, layouts, strict=True)
        ]
        sinks = _stack([_pad_sinks(src, target.sinks - have.sinks) for src, have in rows])
        tail = _stack([_pad_tail(src, target.tail - have.tail) for src, have in rows])
        body = None
        if target.body:
            padded = [_pad_body(src, target.body - have.body) for src, have in rows]
            body = (
                QuantizedBlocks.cat_batch([keys for keys, _ in padded]),
                QuantizedBlocks.cat_batch([values for _, values in padded]),
            )
        _nqkv_layer(out).assign(sinks, body, tail)
    return empty, torch.cat(masks)


def select(cache: Cache, mask: torch.Tensor, rows: Sequence[int], empty: Cache) -> Part:
    """Rows `rows` of `cache` in `empty`, without the columns that are padding in all of them."""
    layout = _columns(cache, mask)
    index = torch.tensor(list(rows), dtype=torch.long, device=mask.device)
    mask = mask.index_select(0, index)
    sink_mask, body_mask, tail_mask = mask.split([layout.sinks, layout.body, layout.tail], dim=1)
    unit = _granularity(cache)
    # (rows, units, unit): a body unit goes when all its columns are padding in every kept row.
    units = body_mask.reshape(mask.shape[0], layout.body // unit, unit)
    kept_units = units.any(dim=2).any(dim=0).nonzero().flatten()
    kept_tail = tail_mask.any(dim=0).nonzero().flatten()
    body_columns = (kept_units[:, None] * unit + torch.arange(unit, device=mask.device)).flatten()
    mask = torch.cat([sink_mask, body_mask[:, body_columns], tail_mask[:, kept_tail]], dim=1)
    for layer, out in zip(cache.layers, empty.layers, strict=True):
        _nqkv_layer(out).assign(*_select_layer(_nqkv_layer(layer), index, kept_units, kept_tail))
    return empty, mask


def _select_layer(
    layer: NQKVLayer, index: torch.Tensor, kept_units: torch.Tensor, kept_tail: torch.Tensor
) -> tuple[KV, tuple[QuantizedBlocks, QuantizedBlocks] | None, KV]:
    """(sinks, body, tail) of one layer: rows `index`, body units and tail columns kept."""
    assert layer.sink_keys is not None and layer.sink_values is not None
    device = layer.keys.device
    index, kept_tail = index.to(device), kept_tail.to(device)
    sinks = (layer.sink_keys.index_select(0, index), layer.sink_values.index_select(0, index))
    tail = (
        layer.keys.index_select(0, index).index_select(2, kept_tail),
        layer.values.index_select(0, index).index_select(2, kept_tail),
    )
    body = None
    if layer.body_keys is not None and layer.body_values is not None and kept_units.numel():
        unit = layer.granularity
        body = (
            _keep_units(layer.body_keys.select_batch(index), layer.key_spec, kept_units, unit),
            _keep_units(layer.body_values.select_batch(index), layer.value_spec, kept_units, unit),
        )
    return sinks, body, tail


def _nqkv_layer(layer: object) -> NQKVLayer:
    assert isinstance(layer, NQKVLayer)
    return layer


def _columns(cache: Cache, mask: torch.Tensor) -> Columns:
    layouts = {_layer_columns(_nqkv_layer(layer)) for layer in cache.layers}
    assert len(layouts) == 1, "every NQKV layer of a cache holds the same columns"
    layout = layouts.pop()
    assert layout.total == mask.shape[1], "the attention mask must describe the cache's columns"
    return layout


def _layer_columns(layer: NQKVLayer) -> Columns:
    assert layer.sink_keys is not None
    body = layer.body_keys.num_tokens if layer.body_keys is not None else 0
    return Columns(layer.sink_keys.shape[-2], body, layer.keys.shape[-2])


def _granularity(cache: Cache) -> int:
    units = {_nqkv_layer(layer).granularity for layer in cache.layers}
    assert len(units) == 1
    return units.pop()


def _spread(mask: torch.Tensor, have: Columns, want: Columns) -> torch.Tensor:
    """(rows, have.total) -> (rows, want.total): zeros before each region's own columns."""
    pieces = []
    start = 0
    for name in Columns.REGIONS:
        own, wanted = getattr(have, name), getattr(want, name)
        pieces += [mask.new_zeros(mask.shape[0], wanted - own), mask[:, start : start + own]]
        start += own
    return torch.cat(pieces, dim=1)


def _pad_sinks(layer: NQKVLayer, num: int) -> KV:
    assert layer.sink_keys is not None and layer.sink_values is not None
    pad = (0, 0, num, 0)  # left, on the tokens dim
    return (
        torch.nn.functional.pad(layer.sink_keys, pad),
        torch.nn.functional.pad(layer.sink_values, pad),
    )


def _pad_tail(layer: NQKVLayer, num: int) -> KV:
    """Left-pad the tail with copies of its first token, so no future block's range widens."""
    out = []
    for tail in (layer.keys, layer.values):
        if num == 0:
            out.append(tail)
        elif tail.shape[-2] == 0:
            out.append(torch.nn.functional.pad(tail, (0, 0, num, 0)))
        else:
            # (batch, heads, num, head_dim) copies of the first tail token.
            out.append(torch.cat([tail[:, :, :1].expand(-1, -1, num, -1), tail], dim=-2))
    return out[0], out[1]


def _pad_body(layer: NQKVLayer, num: int) -> tuple[QuantizedBlocks, QuantizedBlocks]:
    """The layer's body with `num` padding tokens (whole units of stored zeros) on the left."""
    out = []
    for body, spec, like in (
        (layer.body_keys, layer.key_spec, layer.keys),
        (layer.body_values, layer.value_spec, layer.values),
    ):
        if num == 0:
            assert body is not None
            out.append(body)
            continue
        batch, heads, _, head_dim = like.shape
        pad = quantize(like.new_zeros(batch, heads, num, head_dim), spec)
        out.append(pad if body is None else pad.cat(body))
    return out[0], out[1]


def _stack(pairs: list[KV]) -> KV:
    return torch.cat([k for k, _ in pairs]), torch.cat([v for _, v in pairs])


def _tokens_per_row(spec: QuantSpec) -> int:
    """Tokens one stored row holds: a block of tokens (per-channel grouping) or one token."""
    return spec.block_size if spec.axis is GroupAxis.TOKENS else 1


def _keep_units(
    blocks: QuantizedBlocks, spec: QuantSpec, units: torch.Tensor, unit: int
) -> QuantizedBlocks:
    per_row = _tokens_per_row(spec)
    rows_per_unit = unit // per_row
    offsets = torch.arange(rows_per_unit, device=units.device)
    rows = (units[:, None] * rows_per_unit + offsets).flatten()
    return blocks.select_rows(rows, per_row)

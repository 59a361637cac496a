"""The batch's KV cache, and the two reshapes continuous batching needs: merge and select.

Sequences join a running batch after their own prefill and leave it when they finish, so the
scheduler must (a) merge several caches of different lengths into one, left-padding the shorter
ones, and (b) keep only some rows, dropping the columns every remaining row has as padding. Both
are done by reading each layer's dense (batch, kv_heads, tokens, head_dim) tensors and building a
fresh cache from the reshaped tensors.

This is the seam for other caches: a `KVCacheKind` says how to create an empty cache, how to read
its tensors and how to build one from tensors; a kind whose stored form should not round-trip
through dense tensors overrides `merge` and `select` too (NQKV does: quantized_kv_cache.py). The
NQKV quantized caches are registered as nqkv2/nqkv3/nqkv4 (the paper's rule) and
nqkv2_fit/nqkv3_fit/nqkv4_fit (the fitted variant; `register_kv_cache` adds more) and the config
field `kv_cache` picks one by name; a kind's factory takes the kind's own options (NQKV: block
size, residual window, sinks, the fit variant's tails) as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import Cache, DynamicCache
from transformers.cache_utils import DynamicLayer

# One layer's (keys, values), each (batch, kv_heads, tokens, head_dim).
LayerKV = tuple[torch.Tensor, torch.Tensor]


class KVCacheKind:
    """A plain transformers DynamicCache: grows by concatenation every step."""

    name = "dynamic"

    reuses_prefixes = True
    """Whether a stored prompt's dense KV can seed a new cache (prefix_cache.py): true when
    `tensors`/`build` round-trip the cache exactly."""

    def new(self, model_config: Any) -> Cache:
        return DynamicCache(config=model_config)

    def tensors(self, cache: Cache) -> list[LayerKV]:
        return [(layer.keys, layer.values) for layer in cache.layers]

    def build(self, model_config: Any, tensors: Sequence[LayerKV], room: int = 0) -> Cache:
        """A cache holding `tensors`; `room` is how many tokens will follow (a kind that
        preallocates makes space for them, the others ignore it)."""
        return DynamicCache(ddp_cache_data=list(tensors), config=model_config)

    def check(self, model_config: Any) -> None:
        """Raise ValueError when this kind cannot serve the model (checked once, at load)."""

    def nbytes(self, cache: Cache) -> int:
        """Bytes the cache holds, counted from its layers' tensors."""
        total = 0
        for layer in cache.layers:
            for tensor in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if isinstance(tensor, torch.Tensor):
                    total += tensor.numel() * tensor.element_size()
        return total

    def info(self) -> dict[str, Any]:
        """The kind's own settings as they were resolved (for engine info); none here."""
        return {}

    def merge(
        self, model_config: Any, parts: Sequence[tuple[Cache, torch.Tensor]]
    ) -> tuple[Cache, torch.Tensor]:
        """merge_caches for this kind: dense tensors, left-padded, built into a fresh cache."""
        return _merge_dense(self, model_config, parts)

    def select(
        self, model_config: Any, cache: Cache, attention_mask: torch.Tensor, rows: Sequence[int]
    ) -> tuple[Cache, torch.Tensor]:
        """select_rows for this kind: dense tensors of `rows`, leading padding dropped."""
        return _select_dense(self, model_config, cache, attention_mask, rows)


class PreallocatedLayer(DynamicLayer):
    """A DynamicLayer that writes into a buffer with spare room instead of re-concatenating.

    DynamicLayer copies the whole cache on every decode step (torch.cat); here a step writes one
    column and the layer hands out a view, so the cost per step no longer grows with the context.
    """

    GROW_TOKENS = 128

    def __init__(self) -> None:
        super().__init__()
        self._key_buf: torch.Tensor | None = None
        self._value_buf: torch.Tensor | None = None
        self._length = 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new_len = self._length + key_states.shape[-2]
        if self._key_buf is None or new_len > self._key_buf.shape[-2]:
            self._grow(key_states, value_states, new_len)
        assert self._key_buf is not None and self._value_buf is not None
        self._key_buf[:, :, self._length : new_len] = key_states
        self._value_buf[:, :, self._length : new_len] = value_states
        self._length = new_len
        self.keys = self._key_buf[:, :, :new_len]
        self.values = self._value_buf[:, :, :new_len]
        return self.keys, self.values

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, new_len: int) -> None:
        capacity = new_len + self.GROW_TOKENS
        batch, heads, _, dim = key_states.shape
        key_buf = key_states.new_empty((batch, heads, capacity, dim))
        value_buf = value_states.new_empty((batch, heads, capacity, value_states.shape[-1]))
        if self._key_buf is not None and self._length:
            key_buf[:, :, : self._length] = self._key_buf[:, :, : self._length]
            value_buf[:, :, : self._length] = self._value_buf[:, :, : self._length]  # type: ignore[index]
        self._key_buf, self._value_buf = key_buf, value_buf

    def reserve(self, new_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The key and value buffers, with room for `new_len` tokens, for a kernel that writes
        the next tokens in place (then `advance`). The layer must hold tokens already."""
        if self._key_buf is None or self._value_buf is None:
            raise RuntimeError("reserve() needs a layer that already holds tokens")
        if new_len > self._key_buf.shape[-2]:
            self._grow(self._key_buf, self._value_buf, new_len)
        assert self._key_buf is not None and self._value_buf is not None
        return self._key_buf, self._value_buf

    def advance(self, count: int) -> None:
        """Count `count` tokens written into the reserved room as cached."""
        assert self._key_buf is not None and self._value_buf is not None
        self._length += count
        self.keys = self._key_buf[:, :, : self._length]
        self.values = self._value_buf[:, :, : self._length]

    def get_seq_length(self) -> int:
        return self._length

    def adopt(self, key_buf: torch.Tensor, value_buf: torch.Tensor, length: int) -> None:
        """Take `key_buf`/`value_buf` (their first `length` tokens filled) as the buffers, with
        no copy: merge and select write a batch's tokens once, straight into the new buffers."""
        self.lazy_initialization(key_buf, value_buf)
        self._key_buf, self._value_buf, self._length = key_buf, value_buf, length
        self.keys = key_buf[:, :, :length]
        self.values = value_buf[:, :, :length]

    def nbytes(self) -> int:
        """Bytes of the buffers, spare room included."""
        return sum(
            buf.numel() * buf.element_size()
            for buf in (self._key_buf, self._value_buf)
            if buf is not None
        )


def _empty_buffers(
    keys: torch.Tensor, values: torch.Tensor, rows: int, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uninitialised key and value buffers shaped like `keys`/`values`, for `rows` rows of
    `length` tokens plus a step's growth."""
    capacity = length + PreallocatedLayer.GROW_TOKENS
    return (
        keys.new_empty((rows, keys.shape[1], capacity, keys.shape[-1])),
        values.new_empty((rows, values.shape[1], capacity, values.shape[-1])),
    )


class PreallocatedKVCacheKind(KVCacheKind):
    """DynamicCache layout with preallocated growth (see PreallocatedLayer)."""

    name = "preallocated"

    def new(self, model_config: Any) -> Cache:
        num_layers = model_config.get_text_config(decoder=True).num_hidden_layers
        return Cache(layers=[PreallocatedLayer() for _ in range(num_layers)])

    def build(self, model_config: Any, tensors: Sequence[LayerKV], room: int = 0) -> Cache:
        """A cache holding `tensors`, with space for `room` more tokens than a step's growth
        (a prefix that a prompt's remaining tokens follow: one allocation, not two)."""
        cache = self.new(model_config)
        for layer, (keys, values) in zip(cache.layers, tensors, strict=True):
            length = keys.shape[2]
            key_buf, value_buf = _empty_buffers(keys, values, keys.shape[0], length + room)
            key_buf[:, :, :length] = keys
            value_buf[:, :, :length] = values
            layer.adopt(key_buf, value_buf, length)
        return cache

    def merge(
        self, model_config: Any, parts: Sequence[tuple[Cache, torch.Tensor]]
    ) -> tuple[Cache, torch.Tensor]:
        """Each part's rows written once into new buffers, right-aligned; the left padding is
        zeroed (masked out, but it must be finite: a masked score is still computed)."""
        length = max(mask.shape[1] for _, mask in parts)
        masks = [torch.nn.functional.pad(mask, (length - mask.shape[1], 0)) for _, mask in parts]
        per_part = [self.tensors(cache) for cache, _ in parts]
        rows = sum(mask.shape[0] for _, mask in parts)
        cache = self.new(model_config)
        for layer_idx, layer in enumerate(cache.layers):
            key_buf, value_buf = _empty_buffers(*per_part[0][layer_idx], rows, length)
            row = 0
            for tensors, (_, mask) in zip(per_part, parts, strict=True):
                keys, values = tensors[layer_idx]
                count, pad = mask.shape[0], length - mask.shape[1]
                key_buf[row : row + count, :, :pad] = 0
                value_buf[row : row + count, :, :pad] = 0
                key_buf[row : row + count, :, pad:length] = keys
                value_buf[row : row + count, :, pad:length] = values
                row += count
            layer.adopt(key_buf, value_buf, length)
        return cache, torch.cat(masks)

    def select(
        self, model_config: Any, cache: Cache, attention_mask: torch.Tensor, rows: Sequence[int]
    ) -> tuple[Cache, torch.Tensor]:
        """`rows` copied once into new buffers, the columns that are padding in all of them
        dropped."""
        index = torch.tensor(list(rows), dtype=torch.long, device=attention_mask.device)
        mask = attention_mask.index_select(0, index)
        start = int(mask.any(dim=0).nonzero()[0]) if mask.numel() else 0
        mask = mask[:, start:]
        length = mask.shape[1]
        selected = self.new(model_config)
        for layer, (keys, values) in zip(selected.layers, self.tensors(cache), strict=True):
            key_buf, value_buf = _empty_buffers(keys, values, len(rows), length)
            torch.index_select(keys[:, :, start:], 0, index, out=key_buf[:, :, :length])
            torch.index_select(values[:, :, start:], 0, index, out=value_buf[:, :, :length])
            layer.adopt(key_buf, value_buf, length)
        return selected, mask

    def nbytes(self, cache: Cache) -> int:
        return sum(layer.nbytes() for layer in cache.layers)  # type: ignore[attr-defined]


def _nqkv(bits: int, variant: str) -> Callable[..., KVCacheKind]:
    def factory(**options: Any) -> KVCacheKind:
        # Imported on use: the unquantized path never loads NQKV.
        from model.engine.quantized_kv_cache import NQKVCacheKind

        return NQKVCacheKind(bits, variant=variant, **options)

    return factory


# NQKV: the paper's rule, and the fitted variant, which takes the same options plus key_tail and
# value_tail (model/nqkv/variants.py).
QUANTIZED_KV_CACHES = ("nqkv2", "nqkv3", "nqkv4")
FIT_KV_CACHES = ("nqkv2_fit", "nqkv3_fit", "nqkv4_fit")
_KV_CACHE_KINDS: dict[str, Callable[..., KVCacheKind]] = {
    KVCacheKind.name: KVCacheKind,
    PreallocatedKVCacheKind.name: PreallocatedKVCacheKind,
    **{f"nqkv{bits}": _nqkv(bits, "paper") for bits in (2, 3, 4)},
    **{f"nqkv{bits}_fit": _nqkv(bits, "fit") for bits in (2, 3, 4)},
}


def register_kv_cache(name: str, factory: Callable[..., KVCacheKind]) -> None:
    """Make a cache kind selectable by name through the engine config's `kv_cache` field.

    `factory(**options)` builds the kind; options are the kind's own settings, if it has any.
    """
    _KV_CACHE_KINDS[name] = factory


def kv_cache_names() -> list[str]:
    """Every name the config's `kv_cache` accepts."""
    return [AUTO, *sorted(_KV_CACHE_KINDS)]


AUTO = "auto"


def resolve_kv_cache_name(name: str, model_config: Any) -> str:
    """`auto` -> preallocated when every layer is full attention, else dynamic.

    DynamicCache(config=...) knows sliding-window and hybrid layer types; the preallocated
    layers only do plain full attention, so they are chosen only when that is all there is.
    """
    if name != AUTO:
        return name
    layer_types = getattr(model_config.get_text_config(decoder=True), "layer_types", None)
    is_full = layer_types is None or all(t == "full_attention" for t in layer_types)
    return PreallocatedKVCacheKind.name if is_full else KVCacheKind.name


def get_kv_cache_kind(name: str, **options: Any) -> KVCacheKind:
    """The kind called `name`, built with `options` (ValueError for a bad name or option)."""
    if name not in _KV_CACHE_KINDS:
        raise ValueError(f"unknown kv_cache {name!r}; choose one of {', '.join(kv_cache_names())}")
    return _KV_CACHE_KINDS[name](**options)


def merge_caches(
    kind: KVCacheKind,
    model_config: Any,
    parts: Sequence[tuple[Cache, torch.Tensor]],
) -> tuple[Cache, torch.Tensor]:
    """Stack (cache, attention_mask) parts along the batch, padding to a common length.

    Each mask is (rows, tokens) with 1 for a real token; padded columns get 0 in the mask (the
    kind decides where they go: on the left for dense caches, region by region for NQKV).
    """
    if len(parts) == 1:
        return parts[0]
    return kind.merge(model_config, parts)


def select_rows(
    kind: KVCacheKind,
    model_config: Any,
    cache: Cache,
    attention_mask: torch.Tensor,
    rows: Sequence[int],
) -> tuple[Cache, torch.Tensor]:
    """Keep `rows` of the batch and drop columns that are padding in all of them."""
    return kind.select(model_config, cache, attention_mask, rows)


def _merge_dense(
    kind: KVCacheKind, model_config: Any, parts: Sequence[tuple[Cache, torch.Tensor]]
) -> tuple[Cache, torch.Tensor]:
    """Left-pad every part's dense tensors to the longest; padded columns are zeros (masked)."""
    length = max(mask.shape[1] for _, mask in parts)
    masks = [torch.nn.functional.pad(mask, (length - mask.shape[1], 0)) for _, mask in parts]
    per_part = [kind.tensors(cache) for cache, _ in parts]
    merged: list[LayerKV] = []
    for layer_idx in range(len(per_part[0])):
        keys, values = [], []
        for tensors, (_, mask) in zip(per_part, parts, strict=True):
            pad = (0, 0, length - mask.shape[1], 0)  # pad the tokens dim on the left
            k, v = tensors[layer_idx]
            keys.append(torch.nn.functional.pad(k, pad))
            values.append(torch.nn.functional.pad(v, pad))
        merged.append((torch.cat(keys), torch.cat(values)))
    return kind.build(model_config, merged), torch.cat(masks)


def _select_dense(
    kind: KVCacheKind,
    model_config: Any,
    cache: Cache,
    attention_mask: torch.Tensor,
    rows: Sequence[int],
) -> tuple[Cache, torch.Tensor]:
    index = torch.tensor(list(rows), dtype=torch.long, device=attention_mask.device)
    mask = attention_mask.index_select(0, index)
    # First column where any remaining row has a real token; everything before is pure padding.
    start = int(mask.any(dim=0).nonzero()[0]) if mask.numel() else 0
    mask = mask[:, start:]
    tensors = [
        (k.index_select(0, index)[:, :, start:], v.index_select(0, index)[:, :, start:])
        for k, v in kind.tensors(cache)
    ]
    return kind.build(model_config, tensors), mask

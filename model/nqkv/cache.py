"""`NQKVCache`: a transformers Cache whose layers keep keys and values as packed codes.

Per attention layer the tokens live in three places, in order:

    [ sinks (full precision) | body (packed codes + fp16 scales) | tail (full precision) ]

New tokens first fill the sinks (`num_sink_tokens`), then join the tail; whenever the tail holds
more than `residual_tokens`, its oldest tokens are quantized into the body (in whole blocks of
`block_size` tokens for token-grouped sides, so a block is always complete). On every `update`
the layer returns the full (batch, kv_heads, tokens, head_dim) keys and values: the body is
dequantized on read and nothing dequantized is kept, so memory is what `nbytes()` reports.

The new tokens of a forward pass are always attended in full precision in that pass (as in KIVI
and transformers' QuantizedCache); they are read back quantized from the next pass on.

`BlockQuantizedCache` takes any key/value `QuantSpec` (the peers use it too); `NQKVCache` builds
it from an `NQKVConfig`. Sliding-window layers (gemma-3) stay transformers'
DynamicSlidingWindowLayer in full precision: their size is bounded by the window anyway.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer, DynamicSlidingWindowLayer

from model.nqkv.config import GroupAxis, NQKVConfig, QuantSpec
from model.nqkv.quantize import QuantizedBlocks, dequantize, quantize


def _flush_granularity(key_spec: QuantSpec, value_spec: QuantSpec) -> int:
    """Tokens moved to the body at a time: whole token-blocks on token-grouped sides."""
    sizes = [s.block_size for s in (key_spec, value_spec) if s.axis is GroupAxis.TOKENS]
    return math.lcm(*sizes) if sizes else 1


class NQKVLayer(DynamicLayer):
    """One attention layer's quantized cache (see the module docstring for the layout)."""

    is_croppable = False

    def __init__(
        self,
        key_spec: QuantSpec,
        value_spec: QuantSpec,
        residual_tokens: int,
        num_sink_tokens: int,
    ) -> None:
        super().__init__()
        self.key_spec, self.value_spec = key_spec, value_spec
        self.residual_tokens, self.num_sink_tokens = residual_tokens, num_sink_tokens
        self.granularity = _flush_granularity(key_spec, value_spec)
        self.cumulative_length = 0
        self._clear()

    def _clear(self) -> None:
        self.sink_keys: torch.Tensor | None = None
        self.sink_values: torch.Tensor | None = None
        self.body_keys: QuantizedBlocks | None = None
        self.body_values: QuantizedBlocks | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device, self.dtype = key_states.device, key_states.dtype
        # The tail: (batch, kv_heads, tokens, head_dim), starts empty.
        self.keys = key_states[:, :, :0].clone()
        self.values = value_states[:, :, :0].clone()
        self.sink_keys, self.sink_values = self.keys.clone(), self.values.clone()
        self.is_initialized = True

    def dense(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All cached tokens as full (batch, kv_heads, tokens, head_dim) tensors."""
        assert self.is_initialized
        keys = [self.sink_keys, self.keys]
        values = [self.sink_values, self.values]
        if self.body_keys is not None and self.body_values is not None:
            keys.insert(1, dequantize(self.body_keys, self.key_spec, self.dtype))
            values.insert(1, dequantize(self.body_values, self.value_spec, self.dtype))
        return torch.cat(keys, dim=-2), torch.cat(values, dim=-2)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        past_keys, past_values = self.dense()
        out_keys = torch.cat([past_keys, key_states.to(self.dtype)], dim=-2)
        out_values = torch.cat([past_values, value_states.to(self.dtype)], dim=-2)
        self._append(key_states.to(self.dtype), value_states.to(self.dtype))
        return out_keys, out_values

    def assign(
        self,
        sinks: tuple[torch.Tensor, torch.Tensor],
        body: tuple[QuantizedBlocks, QuantizedBlocks] | None,
        tail: tuple[torch.Tensor, torch.Tensor],
    ) -> None:
        """Take over stored state as is (batching.py's merge and select; nothing is re-quantized).

        Sinks and tail are (batch, kv_heads, tokens, head_dim); the columns are sinks, body, tail.
        """
        self.device, self.dtype = tail[0].device, tail[0].dtype
        self.sink_keys, self.sink_values = sinks
        self.body_keys, self.body_values = body if body is not None else (None, None)
        self.keys, self.values = tail
        num_body = body[0].num_tokens if body is not None else 0
        self.cumulative_length = sinks[0].shape[-2] + num_body + tail[0].shape[-2]
        self.is_initialized = True

    def store(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """Append tokens without returning the attention inputs (rebuilding a cache)."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        self._append(key_states.to(self.dtype), value_states.to(self.dtype))

    def _append(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.cumulative_length += key_states.shape[-2]
        assert self.sink_keys is not None and self.sink_values is not None
        room = self.num_sink_tokens - self.sink_keys.shape[-2]
        if room > 0:
            self.sink_keys = torch.cat([self.sink_keys, key_states[:, :, :room]], dim=-2)
            self.sink_values = torch.cat([self.sink_values, value_states[:, :, :room]], dim=-2)
            key_states, value_states = key_states[:, :, room:], value_states[:, :, room:]
        self.keys = torch.cat([self.keys, key_states], dim=-2)
        self.values = torch.cat([self.values, value_states], dim=-2)
        excess = self.keys.shape[-2] - self.residual_tokens
        num_flush = (excess // self.granularity) * self.granularity
        if num_flush > 0:
            self._flush(num_flush)

    def _flush(self, num_tokens: int) -> None:
        """Quantize the oldest `num_tokens` of the tail into the body."""
        new_keys = quantize(self.keys[:, :, :num_tokens], self.key_spec)
        new_values = quantize(self.values[:, :, :num_tokens], self.value_spec)
        self.body_keys = new_keys if self.body_keys is None else self.body_keys.cat(new_keys)
        self.body_values = (
            new_values if self.body_values is None else self.body_values.cat(new_values)
        )
        # Copy, so the flushed full-precision tokens are really freed.
        self.keys = self.keys[:, :, num_tokens:].clone()
        self.values = self.values[:, :, num_tokens:].clone()

    def get_seq_length(self) -> int:
        return self.cumulative_length

    def nbytes(self, full_precision_bytes: int | None = None) -> int:
        """Bytes held: packed codes, fp16 scales/offsets, and the full-precision sinks and tail.

        `full_precision_bytes` counts sinks and tail at that many bytes an element instead of
        their real dtype (e.g. 2 to report an fp32 CPU run as the fp16 deployment would hold it).
        """
        if not self.is_initialized:
            return 0
        total = 0
        for quantized in (self.body_keys, self.body_values):
            if quantized is not None:
                total += quantized.nbytes()
        for tensor in (self.sink_keys, self.sink_values, self.keys, self.values):
            assert tensor is not None
            size = full_precision_bytes or tensor.element_size()
            total += tensor.numel() * size
        return total

    # -- batch reshapes (beam search, batch selection) -------------------------------------

    def _select(self, index: torch.Tensor) -> None:
        if not self.is_initialized:
            return
        index = index.to(self.device)
        self.keys, self.values = self.keys[index], self.values[index]
        assert self.sink_keys is not None and self.sink_values is not None
        self.sink_keys, self.sink_values = self.sink_keys[index], self.sink_values[index]
        if self.body_keys is not None and self.body_values is not None:
            self.body_keys = self.body_keys.select_batch(index)
            self.body_values = self.body_values.select_batch(index)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._select(beam_idx)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._select(indices)

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized:
            batch = self.keys.shape[0]
            self._select(torch.arange(batch).repeat_interleave(repeats))

    def crop(self, tokens_to_remove: int) -> None:
        raise ValueError(
            "NQKVCache cannot crop (quantized tokens cannot be un-quantized exactly); "
            "use kv_cache=fp16 for assisted or speculative decoding"
        )

    def reset(self) -> None:
        self.keys = self.values = None
        self.is_initialized = False
        self.cumulative_length = 0
        self._clear()

    def offload(self) -> None:  # layers stay where they are; quantization is the memory saving
        return None

    def prefetch(self) -> None:
        return None


def _text_config(model_config: Any) -> Any:
    if hasattr(model_config, "get_text_config"):
        return model_config.get_text_config(decoder=True)
    return model_config


def model_head_dim(model_config: Any) -> int:
    config = _text_config(model_config)
    head_dim = getattr(config, "head_dim", None)
    return head_dim or config.hidden_size // config.num_attention_heads


class BlockQuantizedCache(Cache):
    """A Cache of `NQKVLayer`s for any key/value quantizer pair (NQKV and the peers)."""

    def __init__(
        self,
        key_spec: QuantSpec,
        value_spec: QuantSpec,
        model_config: Any = None,
        residual_tokens: int = 128,
        num_sink_tokens: int = 0,
    ) -> None:
        make_layer = partial(NQKVLayer, key_spec, value_spec, residual_tokens, num_sink_tokens)
        if model_config is None:
            super().__init__(layer_class_to_replicate=make_layer)  # type: ignore[arg-type]
            return
        head_dim = model_head_dim(model_config)
        key_spec.check_head_dim(head_dim)
        value_spec.check_head_dim(head_dim)
        config = _text_config(model_config)
        layer_types = getattr(config, "layer_types", None) or ["full_attention"] * (
            config.num_hidden_layers
        )
        layers: list[Any] = []
        for layer_type in layer_types:
            if layer_type == "sliding_attention" and getattr(config, "sliding_window", None):
                layers.append(DynamicSlidingWindowLayer(sliding_window=config.sliding_window))
            else:
                layers.append(make_layer())
        super().__init__(layers=layers)

    def nbytes(self, full_precision_bytes: int | None = None) -> int:
        """Bytes held by every layer, counted from the stored tensors."""
        total = 0
        for layer in self.layers:
            if isinstance(layer, NQKVLayer):
                total += layer.nbytes(full_precision_bytes)
            elif getattr(layer, "is_initialized", False):
                for tensor in (layer.keys, layer.values):
                    total += tensor.numel() * (full_precision_bytes or tensor.element_size())
        return total

    def dense_tensors(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every layer's (keys, values) as full (batch, kv_heads, tokens, head_dim) tensors."""
        out = []
        for layer in self.layers:
            out.append(
                layer.dense() if isinstance(layer, NQKVLayer) else (layer.keys, layer.values)
            )
        return out


class NQKVCache(BlockQuantizedCache):
    """The normal-quantile KV cache configured by an `NQKVConfig`."""

    def __init__(self, config: NQKVConfig | None = None, model_config: Any = None) -> None:
        self.nqkv_config = config or NQKVConfig()
        super().__init__(
            self.nqkv_config.key_spec(),
            self.nqkv_config.value_spec(),
            model_config,
            residual_tokens=self.nqkv_config.residual_tokens,
            num_sink_tokens=self.nqkv_config.num_sink_tokens,
        )

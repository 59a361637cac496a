"""The quantizers a user would pick instead of NQKV, each written from its published description.

All but quanto are points in the same space as NQKV (`QuantSpec`: codebook x scale rule x
grouping x block x rotation), so they run in the same `BlockQuantizedCache`, with the same
residual window and real packed storage; only the rule that maps a block to codes differs.

- KIVI (Liu et al., arXiv 2402.02750): asymmetric uniform integers (min-max: fp16 scale and zero
  point a group), keys grouped per channel over tokens, values per token over channels, group 32,
  the most recent tokens kept in fp16 (the residual; the paper uses 32-128).
- int per-token-head (what vLLM ships as `int4_per_token_head`): symmetric integers with one
  scale, absmax / (2^(b-1) - 1), per token and head (block = head_dim).
- rotation + Lloyd-Max (the TurboQuant idea, Zandieh et al., arXiv 2504.19874; vLLM's
  `turboquant_4bit_nc`): rotate each head vector by a fixed random orthogonal matrix, so its
  coordinates are close to i.i.d. Gaussian, then round each coordinate with the MSE-optimal
  Lloyd-Max Gaussian codebook, scaled by the vector's RMS (one fp16 norm a token and head).
- quanto (transformers' `QuantizedCache(backend="quanto")`): needs the `optimum-quanto` extra;
  `quanto_cache` builds it and `quanto_nbytes` counts its tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from model.nqkv.cache import BlockQuantizedCache, model_head_dim
from model.nqkv.codebook import CodebookKind
from model.nqkv.config import GroupAxis, QuantSpec, ScaleMode

# (bits, head_dim) -> the key spec and the value spec
SpecPair = Callable[[int, int], tuple[QuantSpec, QuantSpec]]


@dataclass(frozen=True)
class Peer:
    name: str
    description: str
    specs: SpecPair

    def make_cache(
        self,
        bits: int,
        model_config: Any,
        residual_tokens: int = 128,
        num_sink_tokens: int = 0,
    ) -> BlockQuantizedCache:
        key_spec, value_spec = self.specs(bits, model_head_dim(model_config))
        return BlockQuantizedCache(
            key_spec, value_spec, model_config, residual_tokens, num_sink_tokens
        )


def _kivi(bits: int, head_dim: int) -> tuple[QuantSpec, QuantSpec]:
    common = {"bits": bits, "block_size": 32, "codebook": CodebookKind.UNIFORM}
    return (
        QuantSpec(axis=GroupAxis.TOKENS, scale=ScaleMode.MINMAX, **common),
        QuantSpec(axis=GroupAxis.CHANNELS, scale=ScaleMode.MINMAX, **common),
    )


def _int_per_token_head(bits: int, head_dim: int) -> tuple[QuantSpec, QuantSpec]:
    spec = QuantSpec(bits=bits, block_size=head_dim, codebook=CodebookKind.INT_SYM)
    return spec, spec


def _rotation_lloyd_max(bits: int, head_dim: int) -> tuple[QuantSpec, QuantSpec]:
    spec = QuantSpec(
        bits=bits,
        block_size=head_dim,
        codebook=CodebookKind.LLOYD_MAX,
        scale=ScaleMode.RMS,
        rotate=True,
    )
    return spec, spec


PEERS: dict[str, Peer] = {
    "kivi": Peer("kivi", "KIVI: uniform min-max, keys per-channel, values per-token, g32", _kivi),
    "int_tok_head": Peer(
        "int_tok_head", "symmetric int, one scale per token and head", _int_per_token_head
    ),
    "rot_lloyd": Peer(
        "rot_lloyd", "random rotation + Lloyd-Max Gaussian codebook, RMS scale", _rotation_lloyd_max
    ),
}


def quanto_cache(bits: int, model_config: Any, residual_tokens: int = 128, group: int = 64) -> Any:
    """transformers' own quanto-backed QuantizedCache (int2/int4); needs `optimum-quanto`."""
    try:
        import optimum.quanto  # noqa: F401
    except ImportError as exc:
        raise ValueError(
            "the quanto peer needs optimum-quanto; install it with `pip install 'huijin[quanto]'`"
        ) from exc
    from transformers import QuantizedCache

    return QuantizedCache(
        "quanto", model_config, nbits=bits, q_group_size=group, residual_length=residual_tokens
    )


def _tensor_bytes(tensor: Any) -> int:
    # quanto tensors are wrapper subclasses: count their inner plain tensors, recursively.
    if hasattr(tensor, "__tensor_flatten__"):
        names, _ = tensor.__tensor_flatten__()
        return sum(_tensor_bytes(getattr(tensor, name)) for name in names)
    if isinstance(tensor, torch.Tensor):
        return tensor.numel() * tensor.element_size()
    return 0


def quanto_nbytes(cache: Any, full_precision_bytes: int | None = None) -> int:
    """Bytes a quanto QuantizedCache holds: its quantized tensors plus its full-precision residual."""
    total = 0
    for layer in cache.layers:
        for quantized in (layer._quantized_keys, layer._quantized_values):
            total += _tensor_bytes(quantized)
        for tensor in (layer.keys, layer.values):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * (full_precision_bytes or tensor.element_size())
    return total

"""Typed, validated configuration: how one side (keys or values) is quantized, and the cache.

`QuantSpec` describes one block quantizer (NQKV and every peer are points in this space:
codebook x scale rule x grouping axis x block size x optional rotation). `NQKVConfig` is what a
user sets; it builds the key and value specs. Every bad value raises a ValueError that says what
to do; `check_head_dim` covers what can only be checked once the model is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import torch

from model.nqkv.codebook import SUPPORTED_BITS, CodebookKind, codebook


class GroupAxis(StrEnum):
    """Which elements share one scale.

    CHANNELS: a block is `block_size` consecutive channels of one token's head vector (per-token).
    TOKENS: a block is `block_size` consecutive tokens of one channel (per-channel, as KIVI keys).
    """

    CHANNELS = "channels"
    TOKENS = "tokens"


class ScaleMode(StrEnum):
    """How a block is normalised before rounding to the codebook.

    ABSMAX: x / max|x| (one fp16 scale a block; the NQKV paper's rule).
    MINMAX: (x - mid) / half_range with mid = (max + min) / 2 (fp16 scale + fp16 offset a block;
            KIVI's asymmetric rule, and NQKV's "centred" variant).
    RMS: x / sqrt(mean x^2) (one fp16 scale; for the unbounded Lloyd-Max Gaussian codebook).
    """

    ABSMAX = "absmax"
    MINMAX = "minmax"
    RMS = "rms"


def _check_bits(bits: int) -> None:
    if bits not in SUPPORTED_BITS:
        raise ValueError(
            f"unsupported bits {bits!r}; NQKV stores 2-, 3- or 4-bit codes, so set bits to 2, 3 or 4"
        )


def _check_block_size(block_size: int) -> None:
    if not isinstance(block_size, int) or block_size < 2:
        raise ValueError(
            f"block_size {block_size!r} is too small; use an integer >= 2 (e.g. 32 or 64)"
        )


@dataclass(frozen=True)
class QuantSpec:
    """One block quantizer for a (batch, heads, tokens, head_dim) tensor."""

    bits: int = 4
    block_size: int = 64
    axis: GroupAxis = GroupAxis.CHANNELS
    codebook: CodebookKind = CodebookKind.NF
    scale: ScaleMode = ScaleMode.ABSMAX
    rotate: bool = False  # random orthogonal rotation of head_dim before quantizing
    tail: float | None = None  # the nf_tail codebook's tail probability (fitted; see codebook.py)

    def __post_init__(self) -> None:
        _check_bits(self.bits)
        _check_block_size(self.block_size)
        object.__setattr__(self, "axis", _enum(GroupAxis, self.axis, "axis"))
        object.__setattr__(self, "codebook", _enum(CodebookKind, self.codebook, "codebook"))
        object.__setattr__(self, "scale", _enum(ScaleMode, self.scale, "scale"))
        if self.rotate and self.axis is not GroupAxis.CHANNELS:
            raise ValueError("rotate=True mixes channels, so it needs axis='channels'")
        if (self.codebook is CodebookKind.NF_TAIL) != (self.tail is not None):
            raise ValueError("set tail (in (0.5, 1)) exactly when codebook is 'nf_tail'")
        if self.tail is not None and not 0.5 < self.tail < 1.0:
            raise ValueError(f"tail {self.tail!r} must be in (0.5, 1), e.g. 0.9")

    def levels(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The codebook's sorted float32 levels on `device`."""
        return codebook(self.codebook, self.bits, self.block_size, self.tail).to(device)

    @property
    def has_offset(self) -> bool:
        return self.scale is ScaleMode.MINMAX

    def bytes_per_element(self) -> float:
        """Stored bytes an element: its code plus its share of the block's fp16 scale/offset."""
        return self.bits / 8 + 2 * (2 if self.has_offset else 1) / self.block_size

    def check_head_dim(self, head_dim: int) -> None:
        if self.axis is GroupAxis.CHANNELS and head_dim % self.block_size:
            divisors = [b for b in (16, 32, 64, 128, 256) if head_dim % b == 0]
            raise ValueError(
                f"block_size {self.block_size} does not divide the model's head_dim {head_dim}; "
                f"with channel grouping use a divisor of {head_dim} such as {divisors or [head_dim]}"
            )


def _enum(cls: type[StrEnum], value: object, name: str) -> StrEnum:
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(member.value for member in cls)
        raise ValueError(f"unknown {name} {value!r}; choose one of {choices}") from None


@dataclass(frozen=True)
class NQKVConfig:
    """The NQKV cache settings (defaults: the paper's absmax-NF4 with per-token blocks of 64)."""

    bits: int = field(default=4, metadata={"help": "Code width: 2, 3 or 4 bits per element."})
    block_size: int = field(
        default=64, metadata={"help": "Elements sharing one fp16 scale (must divide head_dim)."}
    )
    key_axis: GroupAxis = field(
        default=GroupAxis.CHANNELS,
        metadata={"help": "Key blocks span channels of one token, or tokens of one channel."},
    )
    value_axis: GroupAxis = field(
        default=GroupAxis.CHANNELS, metadata={"help": "Value grouping, as key_axis."}
    )
    residual_tokens: int = field(
        default=128, metadata={"help": "Most recent tokens kept in full precision."}
    )
    num_sink_tokens: int = field(
        default=0, metadata={"help": "First tokens (attention sinks) kept in full precision."}
    )
    codebook: CodebookKind = field(
        default=CodebookKind.NF,
        metadata={"help": "nf (QLoRA levels), nf_sym, nf_block or nf_tail (with key/value_tail)."},
    )
    key_tail: float | None = field(
        default=None, metadata={"help": "nf_tail only: the keys' tail probability, in (0.5, 1)."}
    )
    value_tail: float | None = field(
        default=None, metadata={"help": "nf_tail only: the values' tail probability."}
    )
    center_keys: bool = field(
        default=False, metadata={"help": "Store a per-block fp16 midpoint for keys (zero point)."}
    )
    center_values: bool = field(
        default=False, metadata={"help": "Store a per-block fp16 midpoint for values."}
    )

    def __post_init__(self) -> None:
        _check_bits(self.bits)
        _check_block_size(self.block_size)
        for name in ("key_axis", "value_axis"):
            object.__setattr__(self, name, _enum(GroupAxis, getattr(self, name), name))
        object.__setattr__(self, "codebook", _enum(CodebookKind, self.codebook, "codebook"))
        if self.codebook in (CodebookKind.UNIFORM, CodebookKind.INT_SYM, CodebookKind.LLOYD_MAX):
            raise ValueError(
                f"codebook {self.codebook.value!r} is not a normal-quantile codebook; use nf, "
                "nf_sym, nf_block or nf_tail (the integer and Lloyd-Max peers live in "
                "model.nqkv.peers)"
            )
        if self.residual_tokens < 0:
            raise ValueError(f"residual_tokens {self.residual_tokens} < 0; use 0 or more")
        if self.num_sink_tokens < 0:
            raise ValueError(f"num_sink_tokens {self.num_sink_tokens} < 0; use 0 or more")

    def key_spec(self) -> QuantSpec:
        scale = ScaleMode.MINMAX if self.center_keys else ScaleMode.ABSMAX
        tail = self.key_tail if self.codebook is CodebookKind.NF_TAIL else None
        return QuantSpec(self.bits, self.block_size, self.key_axis, self.codebook, scale, tail=tail)

    def value_spec(self) -> QuantSpec:
        scale = ScaleMode.MINMAX if self.center_values else ScaleMode.ABSMAX
        tail = self.value_tail if self.codebook is CodebookKind.NF_TAIL else None
        return QuantSpec(
            self.bits, self.block_size, self.value_axis, self.codebook, scale, tail=tail
        )

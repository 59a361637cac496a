"""The byte layout of one layer's paged NQKV cache, and its page-size arithmetic.

One uint8 tensor per layer, (num_blocks, 2, block_size, num_kv_heads, row_bytes): dim 1 is K (0)
or V (1); a (token, head) row is its packed codes (little-endian, element 0 in the low bits, as
`model.nqkv.packing.pack_codes`) followed by its fp16 group scales as little-endian bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.nqkv.codebook import CodebookKind
from model.nqkv.config import GroupAxis, NQKVConfig, QuantSpec, ScaleMode

KERNEL_BITS = (2, 4)
MAX_HEAD_SIZE = 256


def _is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class PagedNQKVLayout:
    """Shape of one layer's paged NQKV cache (what the kernels and the vLLM plugin agree on)."""

    bits: int
    head_size: int
    group_size: int
    num_kv_heads: int
    block_size: int

    def __post_init__(self) -> None:
        if self.bits not in KERNEL_BITS:
            raise ValueError(
                f"the paged NQKV kernels support bits {KERNEL_BITS}, not {self.bits!r}; "
                "use 2 or 4 (3-bit codes straddle bytes and have no kernel)"
            )
        # Triton tiles have power-of-two sides, and the kernels tile a row as head_size elements
        # and (head_size / group_size, group_size) groups without padding.
        if not _is_power_of_two(self.head_size) or not 16 <= self.head_size <= MAX_HEAD_SIZE:
            raise ValueError(
                f"head_size {self.head_size!r} is not supported by the NQKV kernels; "
                f"use a power of two from 16 to {MAX_HEAD_SIZE} (e.g. 64 or 128)"
            )
        if (
            not isinstance(self.group_size, int)
            or self.group_size < 2
            or self.head_size % self.group_size
            or not _is_power_of_two(self.group_size)
        ):
            raise ValueError(
                f"group_size {self.group_size!r} must be a power of two >= 2 that divides "
                f"head_size {self.head_size} (e.g. 32 or 64)"
            )
        if self.num_kv_heads < 1:
            raise ValueError(f"num_kv_heads {self.num_kv_heads!r} must be >= 1")
        if self.block_size < 1:
            raise ValueError(f"block_size {self.block_size!r} (tokens per page) must be >= 1")

    @classmethod
    def from_config(
        cls, config: NQKVConfig, *, head_size: int, num_kv_heads: int, block_size: int
    ) -> PagedNQKVLayout:
        """The paged layout for the NQKV settings `config` and a model's attention shape.

        The paged cache quantizes every token (there is no full-precision window), so
        `config.residual_tokens` and `config.num_sink_tokens` do not apply here. Only the
        settings the kernels implement are accepted: NF codebook, absmax scales, channel groups.
        """
        if config.codebook is not CodebookKind.NF:
            raise ValueError(
                f"the paged NQKV kernels use the 'nf' codebook, not {config.codebook.value!r}"
            )
        if GroupAxis.TOKENS in (config.key_axis, config.value_axis):
            raise ValueError("the paged NQKV kernels group channels; set key/value_axis='channels'")
        if config.center_keys or config.center_values:
            raise ValueError("the paged NQKV kernels use absmax scales; unset center_keys/values")
        return cls(config.bits, head_size, config.block_size, num_kv_heads, block_size)

    def quant_spec(self) -> QuantSpec:
        """The torch quantizer this layout's rows are bit-exact with."""
        return QuantSpec(
            self.bits,
            block_size=self.group_size,
            axis=GroupAxis.CHANNELS,
            codebook=CodebookKind.NF,
            scale=ScaleMode.ABSMAX,
        )

    @property
    def codes_per_byte(self) -> int:
        return 8 // self.bits

    @property
    def num_groups(self) -> int:
        return self.head_size // self.group_size

    @property
    def code_bytes(self) -> int:
        return self.head_size * self.bits // 8

    @property
    def scale_bytes(self) -> int:
        return 2 * self.num_groups

    @property
    def row_bytes(self) -> int:
        return self.code_bytes + self.scale_bytes

    @property
    def page_bytes(self) -> int:
        """Bytes of one page: K and V rows of block_size tokens x num_kv_heads."""
        return 2 * self.block_size * self.num_kv_heads * self.row_bytes

    @property
    def fp16_page_bytes(self) -> int:
        """Bytes the same page takes in an fp16 cache, for comparison."""
        return 2 * self.block_size * self.num_kv_heads * self.head_size * 2

    def cache_shape(self, num_blocks: int) -> tuple[int, int, int, int, int]:
        return (num_blocks, 2, self.block_size, self.num_kv_heads, self.row_bytes)

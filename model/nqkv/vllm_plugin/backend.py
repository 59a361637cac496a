"""NQKVAttentionBackend: what vLLM asks an attention backend before it builds a layer.

Selected with `--attention-backend CUSTOM --kv-cache-dtype nqkv4` (or nqkv2) once the plugin
has registered it. Its answers keep vLLM from choosing it where it would be wrong: decoder
self-attention only, fp16/bf16 activations, power-of-two head sizes the kernels tile, no sliding
window, sinks or ALiBi. `customize_spec` is where the memory saving happens (see kv_spec.py).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from vllm.v1.attention.backend import AttentionBackend, AttentionType, MultipleOf
from vllm.v1.kv_cache_interface import AttentionSpec, KVCacheLayout

from model.nqkv.kernels.layout import MAX_HEAD_SIZE
from model.nqkv.vllm_plugin.kv_dtypes import NQKV_CACHE_DTYPE_NAMES
from model.nqkv.vllm_plugin.kv_spec import packed_spec


class NQKVAttentionBackend(AttentionBackend):
    """Paged attention over NQKV pages: normal-quantile codes with fp16 absmax group scales."""

    supported_dtypes: ClassVar[list[torch.dtype]] = [torch.float16, torch.bfloat16]
    supported_kv_cache_dtypes: ClassVar[list[str]] = list(NQKV_CACHE_DTYPE_NAMES)
    # vLLM writes the cache through impl.do_kv_cache_update before forward.
    forward_includes_kv_cache_update: bool = False

    @staticmethod
    def get_name() -> str:
        # vLLM maps the name back to its enum (AttentionBackendEnum[name]): the slot we occupy.
        return "CUSTOM"

    @staticmethod
    def get_impl_cls():  # -> type[NQKVAttentionImpl]
        from model.nqkv.vllm_plugin.impl import NQKVAttentionImpl

        return NQKVAttentionImpl

    @staticmethod
    def get_builder_cls():  # -> type[NQKVMetadataBuilder]
        from model.nqkv.vllm_plugin.metadata import NQKVMetadataBuilder

        return NQKVMetadataBuilder

    @classmethod
    def customize_spec(cls, spec: AttentionSpec) -> AttentionSpec:
        """Pages of packed codes + fp16 scales instead of fp16 K/V (0.27x the bytes at 4 bits)."""
        return packed_spec(spec)

    @classmethod
    def supported_kv_cache_layouts(cls) -> tuple[KVCacheLayout, ...]:
        # Head slots (K, V) outside tokens inside each block, as the kernels' (2, tokens, heads,
        # row) page; the kernels take block strides, so blocks may interleave layers.
        return (KVCacheLayout.LBHNC, KVCacheLayout.BLHNC)

    @staticmethod
    def get_supported_kernel_block_sizes(kv_cache_spec=None) -> list[int | MultipleOf]:
        return [MultipleOf(16)]

    @classmethod
    def supports_head_size(cls, head_size: int) -> bool:
        is_power_of_two = head_size > 0 and head_size & (head_size - 1) == 0
        return is_power_of_two and 16 <= head_size <= MAX_HEAD_SIZE

    @classmethod
    def supports_attn_type(cls, attn_type: str) -> bool:
        return attn_type == AttentionType.DECODER

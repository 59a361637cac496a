"""How many tokens vLLM keeps resident for a model shape and KV-cache budget, per cache format.

vLLM plans the KV cache from each layer's spec: blocks = budget // (sum over layers of the page,
padded to the spec's block-stride alignment), as `get_kv_cache_config_from_groups` does for a
uniform decoder under a layer-outermost layout. This replays that sum with vLLM's own spec
classes, through NQKVAttentionBackend.customize_spec for the NQKV formats, so the numbers are the
pages vLLM would allocate, not the plugin's own arithmetic. (vLLM's planner module itself imports
packages a CPU install lacks, hence the replay.) Needs vLLM importable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FP16 = "fp16"


@dataclass(frozen=True)
class KVCapacity:
    """One format's page and what a budget buys."""

    kv_cache: str
    page_bytes: int  # one layer, one block of block_size tokens, K and V
    num_blocks: int
    num_tokens: int  # resident tokens of every layer: num_blocks * block_size


def layer_spec(kv_cache: str, num_kv_heads: int, head_size: int, block_size: int):
    """The spec vLLM's runner ends with for a decoder layer (-> vllm AttentionSpec)."""
    from vllm.utils.torch_utils import STR_DTYPE_TO_TORCH_DTYPE
    from vllm.v1.kv_cache_interface import FullAttentionSpec, get_kv_quant_mode

    from model.nqkv.vllm_plugin.backend import NQKVAttentionBackend

    cache_dtype = "auto" if kv_cache == FP16 else kv_cache
    spec = FullAttentionSpec(
        block_size=block_size,
        num_kv_heads=num_kv_heads,
        head_size=head_size,
        dtype=torch.float16 if kv_cache == FP16 else STR_DTYPE_TO_TORCH_DTYPE[cache_dtype],
        kv_quant_mode=get_kv_quant_mode(cache_dtype),
    )
    # fp16 stays vLLM's dense spec (its default backends leave it as it is).
    return spec if kv_cache == FP16 else NQKVAttentionBackend.customize_spec(spec)


def kv_capacity(
    kv_cache: str,
    *,
    num_layers: int,
    num_kv_heads: int,
    head_size: int,
    block_size: int,
    budget_bytes: int,
) -> KVCapacity:
    """Page bytes, blocks and resident tokens of `kv_cache` (fp16, nqkv4, nqkv2) in the budget.

    Call model.nqkv.vllm_plugin.register() first for the NQKV formats.
    """
    from vllm.utils.math_utils import round_up

    spec = layer_spec(kv_cache, num_kv_heads, head_size, block_size)
    block_stride = round_up(spec.page_size_bytes, spec.get_block_stride_alignment())
    num_blocks = budget_bytes // (num_layers * block_stride)
    return KVCapacity(kv_cache, spec.page_size_bytes, num_blocks, num_blocks * block_size)

"""Per-batch attention metadata of the NQKV backend, and the builder vLLM calls every step.

vLLM reorders a batch so requests with at most `reorder_batch_threshold` (1) query tokens come
first. The builder finds where those single-token decodes end: they run the split-K decode kernel
straight from the packed pages; every later request (a prefill, or a chunk of one) dequantizes
its sequence and runs SDPA. Nothing here reads the device: the split uses vLLM's CPU copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from vllm.v1.attention.backend import (
    AttentionCGSupport,
    AttentionMetadata,
    AttentionMetadataBuilder,
    CommonAttentionMetadata,
)


@dataclass
class NQKVMetadata(AttentionMetadata):
    """What the NQKV impl needs for one forward pass (shared by every NQKV layer of a group)."""

    num_actual_tokens: int  # tokens of real requests; rows past it are padding
    max_query_len: int
    max_seq_len: int  # an upper bound; sizes the decode kernel's split count without a sync
    query_start_loc: torch.Tensor  # (num_reqs + 1,) int32, device
    query_start_loc_cpu: torch.Tensor  # (num_reqs + 1,) int32, host
    seq_lens: torch.Tensor  # (num_reqs,) cached tokens including this step's, device
    block_table: torch.Tensor  # (num_reqs, max_blocks_per_req) int32, device
    slot_mapping: torch.Tensor  # (num_actual_tokens,) int64, device
    num_decodes: int  # leading requests with exactly one query token
    num_prefills: int  # the requests after them

    @property
    def num_decode_tokens(self) -> int:
        return self.num_decodes  # one query token each


def count_leading_decodes(query_start_loc_cpu: torch.Tensor, num_reqs: int) -> int:
    """Requests at the head of the batch with exactly one query token.

    A one-token request after a longer one (no reordering) is left to the prefill path, which
    handles any query length; a zero-token (padding) request ends the decodes for the same reason.
    """
    query_lens = query_start_loc_cpu[1 : num_reqs + 1] - query_start_loc_cpu[:num_reqs]
    not_decode = (query_lens != 1).nonzero()
    return int(not_decode[0, 0]) if len(not_decode) else num_reqs


class NQKVMetadataBuilder(AttentionMetadataBuilder[NQKVMetadata]):
    """Builds NQKVMetadata from vLLM's CommonAttentionMetadata.

    No CUDA-graph support: the decode kernel's split count follows the batch's longest sequence
    and the prefill path syncs on sequence lengths, so vLLM runs attention eagerly (piecewise
    graphs around it still apply).
    """

    _cudagraph_support: ClassVar[AttentionCGSupport] = AttentionCGSupport.NEVER
    # Single-token requests first; no speculative-decoding verification batches (q_len > 1)
    # count as decodes, so this stays 1 whatever the speculative config.
    reorder_batch_threshold: int | None = 1

    def __init__(self, kv_cache_spec, layer_names, vllm_config, device):
        # The base __init__ is abstract; the builder needs nothing beyond what it stores.
        super().__init__(kv_cache_spec, layer_names, vllm_config, device)

    def build(
        self,
        common_prefix_len: int,
        common_attn_metadata: CommonAttentionMetadata,
        fast_build: bool = False,
    ) -> NQKVMetadata:
        common = common_attn_metadata
        num_decodes = count_leading_decodes(common.query_start_loc_cpu, common.num_reqs)
        return NQKVMetadata(
            num_actual_tokens=common.num_actual_tokens,
            max_query_len=common.max_query_len,
            max_seq_len=common.max_seq_len,
            query_start_loc=common.query_start_loc,
            query_start_loc_cpu=common.query_start_loc_cpu,
            seq_lens=common.seq_lens,
            block_table=common.block_table_tensor,
            slot_mapping=common.slot_mapping,
            num_decodes=num_decodes,
            num_prefills=common.num_reqs - num_decodes,
        )

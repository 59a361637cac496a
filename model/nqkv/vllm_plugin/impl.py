"""The NQKV attention impl: store K/V as packed codes + scales, attend from the packed pages.

vLLM calls `do_kv_cache_update` (the backend's forward does not include the cache write) and then
`forward` for every NQKV layer. The batch holds single-token decodes first, then prefills (see
metadata.py):

- decodes: one split-K Triton kernel reads the packed pages directly (`nqkv_decode_attention`);
- prefills: each sequence's pages are dequantized (`dequantize_pages`, one launch for all of them)
  and attended with SDPA under a causal mask offset by the tokens cached before this chunk.

Both paths attend to the cache as stored, the current tokens included, so a token sees the same
keys whether it was computed in a prefill chunk or as a decode step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from vllm.v1.attention.backend import AttentionImpl, AttentionLayer, AttentionType

from model.nqkv.kernels import (
    PagedNQKVLayout,
    dequantize_pages,
    nqkv_decode_attention,
    nqkv_store,
)
from model.nqkv.vllm_plugin.kv_dtypes import cache_dtype_named
from model.nqkv.vllm_plugin.kv_spec import kernel_cache_view, paged_layout
from model.nqkv.vllm_plugin.metadata import NQKVMetadata


class NQKVAttentionImpl(AttentionImpl[NQKVMetadata]):
    """Decoder self-attention over a paged NQKV cache (2 or 4 bits an element)."""

    def __init__(
        self,
        num_heads: int,
        head_size: int,
        scale: float,
        num_kv_heads: int | None = None,
        alibi_slopes: list[float] | None = None,
        sliding_window: int | None = None,
        kv_cache_dtype: str = "auto",
        logits_soft_cap: float | None = None,
        attn_type: str = AttentionType.DECODER,
        kv_sharing_target_layer_name: str | None = None,
        **extra_impl_args,
    ) -> None:
        unsupported = {
            "ALiBi slopes": alibi_slopes is not None,
            "a sliding window": sliding_window is not None,
            "a logits soft cap": bool(logits_soft_cap),
            "attention sinks": extra_impl_args.get("sinks") is not None,
            f"{attn_type} attention": attn_type != AttentionType.DECODER,
        }
        if missing := [name for name, is_used in unsupported.items() if is_used]:
            raise ValueError(
                f"the NQKV attention backend does not support {', '.join(missing)}; "
                "serve this model without --attention-backend CUSTOM"
            )
        self.num_heads = num_heads
        self.head_size = head_size
        self.scale = float(scale)
        self.num_kv_heads = num_kv_heads or num_heads
        self.kv_cache_dtype = kv_cache_dtype
        self.attn_type = attn_type
        self.bits = cache_dtype_named(kv_cache_dtype).bits
        # Fail at model load, not at the first step, for a head size the kernels lack.
        paged_layout(self.bits, head_size, self.num_kv_heads, block_size=1)
        self._layouts: dict[int, PagedNQKVLayout] = {}

    def _layout(self, block_size: int) -> PagedNQKVLayout:
        # The block size is only known from the cache vLLM binds; one layout per size, cached.
        layout = self._layouts.get(block_size)
        if layout is None:
            layout = paged_layout(self.bits, self.head_size, self.num_kv_heads, block_size)
            self._layouts[block_size] = layout
        return layout

    def _kernel_cache(self, kv_cache: torch.Tensor) -> tuple[torch.Tensor, PagedNQKVLayout]:
        layout = self._layout(kv_cache.shape[2])
        return kernel_cache_view(kv_cache, layout), layout

    def do_kv_cache_update(
        self,
        layer: AttentionLayer,
        key: torch.Tensor,
        value: torch.Tensor,
        kv_cache: torch.Tensor,
        slot_mapping: torch.Tensor,
    ) -> None:
        """Quantize this step's (tokens, kv heads, head_size) K/V into their slots."""
        num_tokens = slot_mapping.shape[0]  # vLLM slices it to the real tokens
        if num_tokens == 0:
            return
        cache, layout = self._kernel_cache(kv_cache)
        shape = (num_tokens, self.num_kv_heads, self.head_size)
        key, value = key[:num_tokens].view(shape), value[:num_tokens].view(shape)
        nqkv_store(key, value, cache, slot_mapping, layout)

    def forward(
        self,
        layer: AttentionLayer,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        kv_cache: torch.Tensor,
        attn_metadata: NQKVMetadata,
        output: torch.Tensor,
        output_scale: torch.Tensor | None = None,
        output_block_scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attention of (tokens, heads, head_size) `query` into `output`; K/V come from the cache."""
        if output_scale is not None or output_block_scale is not None:
            # vLLM only fuses output quantization into backends whose
            # fused_output_quant_supported() says so; this one inherits False.
            raise ValueError(
                "the NQKV attention backend does not fuse output quantization; "
                "serve without --attention-backend CUSTOM to use it"
            )
        if attn_metadata is None:  # vLLM's memory-profiling run
            return output.fill_(0)
        num_tokens = attn_metadata.num_actual_tokens
        cache, layout = self._kernel_cache(kv_cache)
        # (tokens, heads, head_size) views; rows past num_tokens are padding and stay untouched.
        query = query[:num_tokens].view(num_tokens, self.num_heads, self.head_size)
        out = output[:num_tokens].view(num_tokens, self.num_heads, self.head_size)
        num_decodes = attn_metadata.num_decodes
        if num_decodes:
            nqkv_decode_attention(
                query[:num_decodes],
                cache,
                attn_metadata.block_table[:num_decodes],
                attn_metadata.seq_lens[:num_decodes],
                layout,
                self.scale,
                max_seq_len=attn_metadata.max_seq_len,
                out=out[:num_decodes],
            )
        if attn_metadata.num_prefills:
            self._prefill(query, cache, layout, attn_metadata, out)
        return output

    def _prefill(
        self,
        query: torch.Tensor,
        cache: torch.Tensor,
        layout: PagedNQKVLayout,
        meta: NQKVMetadata,
        out: torch.Tensor,
    ) -> None:
        """SDPA of every request after the decodes over its dequantized sequence.

        dequantize_pages fills one buffer for all these sequences (one launch; transient, freed
        after the layer) and reads their lengths on the host, which a prefill can afford.
        """
        first = meta.num_decodes
        sequences = dequantize_pages(
            cache, meta.block_table[first:], meta.seq_lens[first:], layout, query.dtype
        )
        starts = meta.query_start_loc_cpu.tolist()
        for index, (keys, values) in enumerate(sequences, start=first):
            start, end = starts[index], starts[index + 1]
            if end == start:
                continue
            out[start:end] = self._causal_attention(query[start:end], keys, values)

    def _causal_attention(
        self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
    ) -> torch.Tensor:
        """(q_len, heads, D) queries that are the last q_len of the (seq_len, kv heads, D) keys."""
        query_len, seq_len = query.shape[0], keys.shape[0]
        # (1, heads, tokens, head_size) for SDPA; enable_gqa lets each KV head serve its group of
        # query heads without copying it.
        q, k, v = (t.transpose(0, 1).unsqueeze(0) for t in (query, keys, values))
        if query_len == seq_len:
            result = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, scale=self.scale, enable_gqa=True
            )
        else:
            # Query i sits at position seq_len - query_len + i and sees keys up to it.
            positions = torch.arange(seq_len - query_len, seq_len, device=query.device)
            mask = torch.arange(seq_len, device=query.device) <= positions.unsqueeze(-1)
            result = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, scale=self.scale, enable_gqa=True
            )
        return result.squeeze(0).transpose(0, 1)

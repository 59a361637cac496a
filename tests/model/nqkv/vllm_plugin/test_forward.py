"""The NQKV impl's forward through Triton's interpreter, against plain torch attention.

One vLLM step over a mixed batch on a paged cache cut the way vLLM cuts it: two decodes (one
query token over 37 and 5 cached tokens), a chunked-prefill continuation (7 tokens after 20
cached) and a fresh prefill (9 tokens), pages in random order, two padding tokens at the end. The
reference attends, in float64, to K/V quantized by model.nqkv.quantize (the project's NQKV
quantizer, not the kernels), with a causal mask on absolute positions and GQA by repetition.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from model.nqkv.config import QuantSpec
from model.nqkv.quantize import fake_quantize
from model.nqkv.vllm_plugin.capacity import layer_spec
from tests.model.nqkv.vllm_plugin.vllm_pages import allocate_layer_caches

pytestmark = pytest.mark.vllm

NUM_HEADS, NUM_KV_HEADS, HEAD_SIZE, BLOCK_SIZE, NUM_BLOCKS = 4, 2, 64, 16, 12
CACHED = [37, 5, 20, 0]  # tokens already in the cache, per request
NEW = [1, 1, 7, 9]  # this step's query tokens: decode, decode, prefill chunk, fresh prefill
NUM_PADDING = 2


@pytest.fixture
def interpreter(monkeypatch) -> None:
    """Run the kernels in Triton's CPU interpreter (the kernels read this at launch)."""
    from model.nqkv.kernels.loader import select_kernels

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert select_kernels(torch.device("cpu"), None) is not None  # Triton, not the torch path


def reference_attention(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, spec: QuantSpec, scale: float
) -> torch.Tensor:
    """(q, heads, D) queries at the last q positions of (seq, kv heads, D) keys, float64."""
    # (1, kv heads, seq, D) is the layout quantize expects; channel groups, so per row.
    k, v = (fake_quantize(t.transpose(0, 1).unsqueeze(0).float(), spec)[0] for t in (keys, values))
    repeat = NUM_HEADS // NUM_KV_HEADS
    k, v = k.double().repeat_interleave(repeat, 0), v.double().repeat_interleave(repeat, 0)
    q = query.double().transpose(0, 1)  # (heads, q, D)
    scores = q @ k.transpose(-1, -2) * scale  # (heads, q, seq)
    positions = torch.arange(keys.shape[0] - query.shape[0], keys.shape[0])
    scores.masked_fill_(torch.arange(keys.shape[0]) > positions.unsqueeze(-1), -math.inf)
    return (scores.softmax(-1) @ v).transpose(0, 1)


def scattered_block_table(seq_lens: list[int], gen: torch.Generator) -> torch.Tensor:
    """(num_seqs, max_blocks) int32: each sequence's pages, drawn in random order as vLLM's
    block pool hands them out."""
    pages = torch.randperm(NUM_BLOCKS, generator=gen).tolist()
    counts = [-(-length // BLOCK_SIZE) for length in seq_lens]
    table = torch.zeros(len(seq_lens), max(counts), dtype=torch.int32)
    for row, count in enumerate(counts):
        table[row, :count] = torch.tensor([pages.pop() for _ in range(count)])
    return table


def slots(block_table: torch.Tensor, row: int, start: int, end: int) -> torch.Tensor:
    """vLLM's slot ids of positions [start, end) of sequence `row`: page * block + offset."""
    positions = torch.arange(start, end)
    page = block_table[row, positions // BLOCK_SIZE].long()
    return page * BLOCK_SIZE + positions % BLOCK_SIZE


@pytest.mark.parametrize(("kv_cache_dtype", "bits"), [("nqkv4", 4), ("nqkv2", 2)])
def test_mixed_batch_matches_torch_attention(nqkv_backend, interpreter, kv_cache_dtype, bits):
    from vllm.v1.attention.backend import CommonAttentionMetadata
    from vllm.v1.kv_cache_layout import KVCacheLayout

    gen = torch.Generator().manual_seed(bits)
    scale = HEAD_SIZE**-0.5
    spec = layer_spec(kv_cache_dtype, NUM_KV_HEADS, HEAD_SIZE, BLOCK_SIZE)
    _, (kv_cache,) = allocate_layer_caches(spec, NUM_BLOCKS, 1, KVCacheLayout.LBHNC)
    impl = nqkv_backend.get_impl_cls()(
        NUM_HEADS, HEAD_SIZE, scale, NUM_KV_HEADS, kv_cache_dtype=kv_cache_dtype
    )
    builder = nqkv_backend.get_builder_cls()(spec, ["layer"], None, torch.device("cpu"))
    seq_lens = [cached + new for cached, new in zip(CACHED, NEW, strict=True)]
    block_table = scattered_block_table(seq_lens, gen)
    keys = [torch.randn(n, NUM_KV_HEADS, HEAD_SIZE, generator=gen).half() for n in seq_lens]
    values = [torch.randn(n, NUM_KV_HEADS, HEAD_SIZE, generator=gen).half() for n in seq_lens]

    # Earlier steps: the cached tokens went in through the impl, as vLLM stores them.
    impl.do_kv_cache_update(
        None,
        torch.cat([k[:cached] for k, cached in zip(keys, CACHED, strict=True)]),
        torch.cat([v[:cached] for v, cached in zip(values, CACHED, strict=True)]),
        kv_cache,
        torch.cat([slots(block_table, row, 0, cached) for row, cached in enumerate(CACHED)]),
    )

    # This step: the new tokens of every request, then padding (slot -1: never written).
    num_tokens = sum(NEW)
    query = torch.randn(num_tokens + NUM_PADDING, NUM_HEADS, HEAD_SIZE, generator=gen).half()
    pad = torch.zeros(NUM_PADDING, NUM_KV_HEADS, HEAD_SIZE, dtype=torch.half)
    new_keys = torch.cat([k[cached:] for k, cached in zip(keys, CACHED, strict=True)] + [pad])
    new_values = torch.cat([v[cached:] for v, cached in zip(values, CACHED, strict=True)] + [pad])
    slot_mapping = torch.cat(
        [slots(block_table, row, CACHED[row], seq_lens[row]) for row in range(len(seq_lens))]
    )
    padded_slots = torch.cat([slot_mapping, torch.full((NUM_PADDING,), -1)])
    impl.do_kv_cache_update(None, new_keys, new_values, kv_cache, padded_slots)
    query_start_loc = torch.tensor([0, *itertools.accumulate(NEW)], dtype=torch.int32)
    common = CommonAttentionMetadata(
        query_start_loc=query_start_loc,
        query_start_loc_cpu=query_start_loc.clone(),
        seq_lens=torch.tensor(seq_lens, dtype=torch.int32),
        num_reqs=len(seq_lens),
        num_actual_tokens=num_tokens,
        max_query_len=max(NEW),
        max_seq_len=max(seq_lens),
        block_table_tensor=block_table,
        slot_mapping=slot_mapping,
    )
    metadata = builder.build(0, common)
    assert (metadata.num_decodes, metadata.num_prefills) == (2, 2)
    output = torch.full((num_tokens + NUM_PADDING, NUM_HEADS, HEAD_SIZE), 7.0, dtype=torch.half)
    impl.forward(None, query, new_keys, new_values, kv_cache, metadata, output)

    quant_spec = QuantSpec(bits, block_size=64, axis="channels", codebook="nf", scale="absmax")
    bounds = query_start_loc.tolist()
    for row, (start, end) in enumerate(itertools.pairwise(bounds)):
        expected = reference_attention(query[start:end], keys[row], values[row], quant_spec, scale)
        torch.testing.assert_close(output[start:end].double(), expected, atol=2e-3, rtol=2e-3)
    assert (output[num_tokens:] == 7.0).all()  # padding rows untouched


def test_impl_refuses_what_it_cannot_serve(nqkv_backend):
    impl_cls = nqkv_backend.get_impl_cls()
    with pytest.raises(ValueError, match="not an NQKV format"):
        impl_cls(NUM_HEADS, HEAD_SIZE, 0.125, NUM_KV_HEADS, kv_cache_dtype="auto")
    with pytest.raises(ValueError, match="sliding window"):
        impl_cls(NUM_HEADS, HEAD_SIZE, 0.125, NUM_KV_HEADS, None, 128, kv_cache_dtype="nqkv4")
    with pytest.raises(ValueError, match="head_size 80"):
        impl_cls(NUM_HEADS, 80, 0.125, NUM_KV_HEADS, kv_cache_dtype="nqkv4")

"""NQKVCache against a full-precision reference, on a tiny random Llama and the real model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

from model.nqkv import BlockQuantizedCache, NQKVCache, NQKVConfig
from model.nqkv.cache import NQKVLayer
from model.nqkv.quantize import fake_quantize


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=256,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # head_dim 64, grouped-query attention as SmolLM2
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval()


def _ids(length: int, batch: int = 1) -> torch.Tensor:
    return torch.randint(0, 97, (batch, length), generator=torch.Generator().manual_seed(length))


def _feed(model, ids: torch.Tensor, cache, step: int) -> torch.Tensor:
    """Teacher-forced pass in chunks of `step` tokens; returns (batch, tokens, vocab) logits."""
    logits = []
    with torch.no_grad():
        for start in range(0, ids.shape[1], step):
            out = model(ids[:, start : start + step], cache=cache, use_cache=True)
            logits.append(out.logits)
    return torch.cat(logits, dim=1)


def test_window_covering_everything_is_exactly_the_reference(tiny_model):
    ids = _ids(40)
    reference = _feed(tiny_model, ids, DynamicCache(), step=8)
    cache = NQKVCache(NQKVConfig(residual_tokens=64), tiny_model.config)
    torch.testing.assert_close(_feed(tiny_model, ids, cache, step=8), reference, rtol=0, atol=0)


@pytest.mark.parametrize("axis", ["channels", "tokens"])
def test_stored_tokens_are_the_quantized_reference(tiny_model, axis):
    ids = _ids(50)
    reference = DynamicCache()
    _feed(tiny_model, ids, reference, step=5)
    config = NQKVConfig(bits=4, block_size=16, key_axis=axis, residual_tokens=8, num_sink_tokens=3)
    cache = NQKVCache(config, tiny_model.config)
    _feed(tiny_model, ids, cache, step=5)
    # Layer 0's keys and values depend only on the tokens, so the reference is exact there.
    layer = cache.layers[0]
    assert isinstance(layer, NQKVLayer)
    assert cache.get_seq_length() == 50
    keys, values = layer.dense()
    ref_keys, ref_values = reference.layers[0].keys, reference.layers[0].values
    # Sinks and the most recent tokens are exact; with token blocks of 16 the tail holds
    # residual_tokens .. residual_tokens + 15 tokens.
    num_tail = layer.keys.shape[-2]
    assert 8 <= num_tail < 8 + (16 if axis == "tokens" else 1)
    torch.testing.assert_close(keys[:, :, :3], ref_keys[:, :, :3], rtol=0, atol=0)
    torch.testing.assert_close(keys[:, :, -num_tail:], ref_keys[:, :, -num_tail:], rtol=0, atol=0)
    body = slice(3, 50 - num_tail)
    # The body holds exactly what quantizing the reference gives (chunking does not matter).
    expect_keys = fake_quantize(ref_keys[:, :, body], config.key_spec())
    expect_values = fake_quantize(ref_values[:, :, body], config.value_spec())
    torch.testing.assert_close(keys[:, :, body], expect_keys, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(values[:, :, body], expect_values, rtol=1e-5, atol=1e-6)


def test_nbytes_counts_codes_scales_and_full_precision(tiny_model):
    cache = NQKVCache(NQKVConfig(bits=4, block_size=32, residual_tokens=4), tiny_model.config)
    _feed(tiny_model, _ids(20), cache, step=20)
    # per layer: 16 body tokens x 2 heads x 2 blocks x (16 bytes codes + 2 scale) x (K, V)
    #          + 4 tail tokens x 2 heads x 64 dims x 4 bytes (fp32) x (K, V)
    body, tail = 16 * 2 * 2 * 18 * 2, 4 * 2 * 64 * 4 * 2
    assert cache.nbytes() == 2 * (body + tail)
    assert cache.nbytes(full_precision_bytes=2) == 2 * (body + tail // 2)


def test_generate_with_quantized_cache_and_batch(tiny_model):
    ids = _ids(30, batch=2)
    cache = NQKVCache(NQKVConfig(bits=2, block_size=16, residual_tokens=4), tiny_model.config)
    out = tiny_model.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
        past_key_values=cache, pad_token_id=0,
    )  # fmt: skip
    assert out.shape == (2, 36)
    assert cache.get_seq_length() == 35  # the last generated token is never fed back
    cache.batch_select_indices(torch.tensor([1]))
    assert cache.layers[0].dense()[0].shape[0] == 1


def test_peer_specs_plug_into_the_same_cache(tiny_model):
    from model.nqkv.peers import PEERS

    ids = _ids(40)
    for peer in PEERS.values():
        cache = peer.make_cache(4, tiny_model.config, residual_tokens=8)
        assert isinstance(cache, BlockQuantizedCache)
        logits = _feed(tiny_model, ids, cache, step=10)
        assert torch.isfinite(logits).all() and cache.nbytes() > 0


def _embedded_checkpoint() -> Path | None:
    try:
        from model.engine.checkpoint import resolve_source
    except ImportError:
        return None
    cache_dir = Path(os.environ.get("HUIJIN_CACHE_DIR", Path.cwd() / ".cache" / "huijin"))
    try:
        return resolve_source(None, cache_dir).checkpoint_dir
    except Exception:
        return None


def test_real_model_generate_tracks_fp16():
    """SmolLM2-135M: 4-bit NQKV with a short window keeps greedy decoding close to full precision."""
    checkpoint = _embedded_checkpoint()
    if checkpoint is None:
        pytest.skip("the embedded model is not installed")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    text = (
        "Net revenue for the fiscal year increased to $4.2 billion, up 12% from the prior year, "
        "driven by higher volumes in the commercial segment. Operating margin improved to"
    )
    ids = tokenizer(text, return_tensors="pt").input_ids
    kwargs = {"max_new_tokens": 8, "do_sample": False}
    reference = model.generate(ids, **kwargs)
    cache = NQKVCache(NQKVConfig(bits=4, residual_tokens=8), model.config)
    quantized = model.generate(ids, past_key_values=cache, **kwargs)  # the documented kwarg
    agree = (reference[0, ids.shape[1] :] == quantized[0, ids.shape[1] :]).float().mean()
    assert agree >= 0.75
    assert cache.nbytes(full_precision_bytes=2) < 0.5 * cache.get_seq_length() * 30 * 2 * 3 * 64 * 2

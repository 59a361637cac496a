"""The fast decode step against the transformers forward it replaces (the reference)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.engine.checkpoint import load_checkpoint
from model.engine.fast_decode import can_pack_for_onednn, unsupported_reason
from model.engine.kv_cache import KVCacheKind, PreallocatedKVCacheKind
from model.engine.runner import ModelRunner
from model.engine.transformers_engine import TransformersEngine

PROMPTS = [
    "Hello there, how are you doing today?",
    "The stock market",
    "A longer prompt with many more words in it, so that the batch needs left padding.",
]
NUM_STEPS = 8


def _decode_trace(runner: ModelRunner, prompts: list[list[int]]) -> tuple[list, list]:
    """Greedy tokens and logits of a batch that merges all prompts, then shrinks to one row."""
    firsts, batches = zip(*(runner.prefill(ids) for ids in prompts), strict=True)
    batch = runner.merge(list(batches))
    tokens = [int(first.argmax()) for first in firsts]
    all_tokens, all_logits = [], []
    for step in range(NUM_STEPS):
        logits = runner.decode(batch, tokens)
        tokens = logits.argmax(-1).tolist()
        all_tokens.append(tokens)
        all_logits.append(logits)
        if step == 3:
            batch = runner.select(batch, [0, 2])
            tokens = [tokens[0], tokens[2]]
        if step == 5:  # single-row steps take the other kernels
            batch = runner.select(batch, [0])
            tokens = tokens[:1]
    return all_tokens, all_logits


def _fresh_fast_runner(engine: TransformersEngine, decode_weights: str) -> ModelRunner:
    """Another copy of the model (the fast path re-lays out its weights in place)."""
    checkpoint = Path(engine.info().extra["checkpoint_dir"])
    model, _ = load_checkpoint(checkpoint, torch.float32, "cpu")
    assert unsupported_reason(model) is None
    return ModelRunner(
        model,
        PreallocatedKVCacheKind(),
        fast_decode=True,
        packed_batch_weights=True,
        decode_weights=decode_weights,
    )


@pytest.fixture(scope="module")
def fast_runner(embedded_engine: TransformersEngine) -> ModelRunner:
    """float32 decode weights: MKL for one row, oneDNN-prepacked for batched steps."""
    runner = _fresh_fast_runner(embedded_engine, "float32")
    assert can_pack_for_onednn(runner.model)
    return runner


@pytest.fixture(scope="module")
def reference_trace(embedded_engine: TransformersEngine) -> tuple[list, list]:
    """The plain transformers path (dynamic cache, model forward) on the same trace."""
    reference = ModelRunner(embedded_engine._runner.model, KVCacheKind())
    return _decode_trace(reference, [embedded_engine.tokenize(p) for p in PROMPTS])


def test_fast_decode_matches_the_transformers_forward(
    embedded_engine: TransformersEngine, fast_runner: ModelRunner, reference_trace: tuple
) -> None:
    ref_tokens, ref_logits = reference_trace
    prompts = [embedded_engine.tokenize(p) for p in PROMPTS]
    fast_tokens, fast_logits = _decode_trace(fast_runner, prompts)
    assert fast_runner.fast_decoder is not None and fast_runner.fast_decoder.is_packed
    assert fast_tokens == ref_tokens
    for ref, fast in zip(ref_logits, fast_logits, strict=True):
        assert torch.allclose(ref, fast, atol=1e-3), (ref - fast).abs().max()


def test_fp16_decode_weights_stay_close_to_the_reference(
    embedded_engine: TransformersEngine, reference_trace: tuple
) -> None:
    """float16 weight copies (fbgemm, the default): logits within a few 1e-2, same tokens."""
    fp16_runner = embedded_engine._runner  # the session engine runs the default fast path
    assert fp16_runner.fast_decoder is not None and fp16_runner.fast_decoder.is_fp16
    ref_tokens, ref_logits = reference_trace
    prompts = [embedded_engine.tokenize(p) for p in PROMPTS]
    fp16_tokens, fp16_logits = _decode_trace(fp16_runner, prompts)
    assert fp16_tokens == ref_tokens
    for ref, got in zip(ref_logits, fp16_logits, strict=True):
        assert torch.allclose(ref, got, atol=5e-2), (ref - got).abs().max()


def test_fast_decode_keeps_one_copy_of_the_weights(fast_runner: ModelRunner) -> None:
    model = fast_runner.model
    assert model.lm_head.weight is model.model.embed_tokens.weight  # still tied
    layer = model.model.layers[0]
    q, k = layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight
    assert q.untyped_storage().data_ptr() == k.untyped_storage().data_ptr()  # fused storage


def _tiny(model_type: str) -> torch.nn.Module:
    """A random 2-layer model of another Llama-family shape: untied head, q/k/v biases (Qwen2)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        model_type,
        vocab_size=300,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
@pytest.mark.parametrize(
    ("decode_weights", "packed"), [("float32", False), ("float32", True), ("float16", False)]
)
def test_fast_decode_on_other_llama_family_shapes(
    model_type: str, decode_weights: str, packed: bool
) -> None:
    reference = ModelRunner(_tiny(model_type), KVCacheKind())
    fast = ModelRunner(
        _tiny(model_type),
        PreallocatedKVCacheKind(),
        fast_decode=True,
        packed_batch_weights=packed,
        decode_weights=decode_weights,
    )
    if model_type == "qwen2":
        assert fast.model.model.layers[0].self_attn.q_proj.bias is not None
    prompts = [[5, 17, 42, 7], [9, 3], [100, 101, 102, 103, 104, 105, 106]]
    ref_tokens, ref_logits = _decode_trace(reference, prompts)
    fast_tokens, fast_logits = _decode_trace(fast, prompts)
    assert fast_tokens == ref_tokens
    atol = 1e-2 if decode_weights == "float16" else 1e-4
    for ref, got in zip(ref_logits, fast_logits, strict=True):
        assert torch.allclose(ref, got, atol=atol), (ref - got).abs().max()

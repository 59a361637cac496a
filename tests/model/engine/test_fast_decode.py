"""The fast decode step against the transformers forward it replaces (the reference)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.settings import load_settings
from model.engine import cpu_kernels
from model.engine.checkpoint import load_checkpoint
from model.engine.fast_decode import can_pack_for_onednn, unsupported_reason
from model.engine.kv_cache import KVCacheKind, PreallocatedKVCacheKind, PreallocatedLayer
from model.engine.runner import ModelRunner
from model.engine.transformers_engine import TransformersEngine
from tests.model.engine.tiny_models import snap_to_4bit_grid, tiny_causal_lm

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


def test_int8_decode_weights_stay_close_to_the_reference(
    embedded_engine: TransformersEngine, reference_trace: tuple
) -> None:
    """int8 codes (the default): the GGUF's 4-bit blocks stored exactly, the output head (6-bit
    sub-blocks in the GGUF) kept in float16; logits as close as float16's, same tokens."""
    runner = embedded_engine._runner  # the session engine runs the default fast path
    decoder = runner.fast_decoder
    assert decoder is not None and decoder.decode_weights == "int8"
    assert all(layer.qkv.int8 is not None for layer in decoder.layers)
    assert decoder.lm_head.int8 is None and decoder.lm_head.half is not None
    _assert_close_to_reference(embedded_engine, runner, reference_trace)


def test_fp16_decode_weights_stay_close_to_the_reference(
    embedded_engine: TransformersEngine, reference_trace: tuple
) -> None:
    """float16 weight copies (fbgemm): logits within a few 1e-2, same tokens."""
    runner = _fresh_fast_runner(embedded_engine, "float16")
    assert runner.fast_decoder is not None and runner.fast_decoder.decode_weights == "float16"
    _assert_close_to_reference(embedded_engine, runner, reference_trace)


def _assert_close_to_reference(
    engine: TransformersEngine, runner: ModelRunner, reference_trace: tuple
) -> None:
    """Same greedy tokens as the float32 reference, logits within a few 1e-2."""
    ref_tokens, ref_logits = reference_trace
    tokens, logits = _decode_trace(runner, [engine.tokenize(p) for p in PROMPTS])
    assert tokens == ref_tokens
    for ref, got in zip(ref_logits, logits, strict=True):
        assert torch.allclose(ref, got, atol=5e-2), (ref - got).abs().max()


def test_fast_decode_keeps_one_copy_of_the_weights(fast_runner: ModelRunner) -> None:
    model = fast_runner.model
    assert model.lm_head.weight is model.model.embed_tokens.weight  # still tied
    layer = model.model.layers[0]
    q, k = layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight
    assert q.untyped_storage().data_ptr() == k.untyped_storage().data_ptr()  # fused storage


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
@pytest.mark.parametrize(
    ("decode_weights", "packed"),
    [("float32", False), ("float32", True), ("float16", False), ("int8", False)],
)
def test_fast_decode_on_other_llama_family_shapes(
    model_type: str, decode_weights: str, packed: bool
) -> None:
    if decode_weights == "int8":
        if cpu_kernels.unavailable_reason() is not None:
            pytest.skip(str(cpu_kernels.unavailable_reason()))
        cpu_kernels.load(load_settings().cache_dir)
    reference = ModelRunner(snap_to_4bit_grid(tiny_causal_lm(model_type)), KVCacheKind())
    fast = ModelRunner(
        snap_to_4bit_grid(tiny_causal_lm(model_type)),
        PreallocatedKVCacheKind(),
        fast_decode=True,
        packed_batch_weights=packed,
        decode_weights=decode_weights,
    )
    if model_type == "qwen2":
        assert fast.model.model.layers[0].self_attn.q_proj.bias is not None
    assert fast.fast_decoder is not None and fast.fast_decoder.decode_weights == decode_weights
    if decode_weights == "int8":  # every layer's projections (in_features 64 or 96) are int8
        assert all(layer.down.int8 is not None for layer in fast.fast_decoder.layers)
    prompts = [[5, 17, 42, 7], [9, 3], [100, 101, 102, 103, 104, 105, 106]]
    ref_tokens, ref_logits = _decode_trace(reference, prompts)
    fast_tokens, fast_logits = _decode_trace(fast, prompts)
    assert fast_tokens == ref_tokens
    atol = 1e-4 if decode_weights == "float32" else 1e-2
    for ref, got in zip(ref_logits, fast_logits, strict=True):
        assert torch.allclose(ref, got, atol=atol), (ref - got).abs().max()


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
def test_the_one_call_step_matches_the_per_op_step(model_type: str) -> None:
    """int8 weights over a preallocated cache run every layer in one kernel call
    (cpu_kernels.decode_layers); the per-op path of the same weights is its reference, through
    merges, left padding, row selection and the cache growing past its spare room."""
    if cpu_kernels.unavailable_reason() is not None:
        pytest.skip(str(cpu_kernels.unavailable_reason()))
    cpu_kernels.load(load_settings().cache_dir)
    runners = []
    for fused in (True, False):
        runner = ModelRunner(
            snap_to_4bit_grid(tiny_causal_lm(model_type)),
            PreallocatedKVCacheKind(),
            fast_decode=True,
            decode_weights="int8",
        )
        assert runner.fast_decoder is not None and runner.fast_decoder.layer_weights is not None
        if not fused:
            runner.fast_decoder.layer_weights = None
        runners.append(runner)
    prompts = [[5, 17, 42, 7], [9, 3], [100, 101, 102, 103, 104, 105, 106]]
    fused_trace, per_op_trace = (_decode_trace(runner, prompts) for runner in runners)
    assert fused_trace[0] == per_op_trace[0]
    for fused, per_op in zip(fused_trace[1], per_op_trace[1], strict=True):
        assert torch.allclose(fused, per_op, atol=1e-4), (fused - per_op).abs().max()
    # Past the cache's spare room (PreallocatedLayer.GROW_TOKENS) the buffers grow mid-decode.
    fused_runner = runners[0]
    steps = PreallocatedLayer.GROW_TOKENS + 5
    outputs = []
    for runner in runners:
        logits, batch = runner.prefill([5, 17, 42])
        token = int(logits.argmax())
        for _ in range(steps):
            logits = runner.decode(batch, [token])[0]
            token = int(logits.argmax())
        assert batch.cache.get_seq_length() == 3 + steps
        assert runner.fast_decoder is not None
        assert runner.fast_decoder._fits_fused_step(batch.cache) is (runner is fused_runner)
        outputs.append(logits)
    assert torch.allclose(outputs[0], outputs[1], atol=1e-4)


def test_float32_fused_weights_leave_no_second_copy() -> None:
    """A fused (q|k|v, gate|up) or transposed (wide head) float32 weight replaces the model's
    own tensors: nothing else keeps the originals alive."""
    model = tiny_causal_lm("llama")
    runner = ModelRunner(model, PreallocatedKVCacheKind(), fast_decode=True)
    decoder = runner.fast_decoder
    assert decoder is not None
    for projection in decoder.projections:
        assert projection.weight is not None and projection.parts == []
    q_proj = model.model.layers[0].self_attn.q_proj.weight
    fused = decoder.layers[0].qkv.weight
    assert q_proj.untyped_storage().data_ptr() == fused.untyped_storage().data_ptr()

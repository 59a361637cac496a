"""The in-process engine and AR-Sampling on a CUDA device (`-m gpu`; run by benchmarks/run_gpu.sh).

`HUIJIN_DEVICE=auto` picks CUDA wherever torch sees one, so every path the CPU tests cover must
also hold there: the fast decode step degrading to the model's own dtype and device, the
preallocated and NQKV caches, batching, prefill sharing, the prefix cache, continuing a partial
turn, and AR-Sampling on top. GPU machines here carry no weights, so the model is SmolLM2-135M's
real shape, randomly initialised, with the real tokenizer (copied from the converted embedded
checkpoint: `HUIJIN_CACHE_DIR/models/*/tokenizer.json`). Its embeddings are scaled up so that
greedy choices are far from ties and float32 runs of different batch shapes pick the same tokens.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from model.engine.transformers_config import TransformersEngineConfig
from model.engine.transformers_engine import TransformersEngine
from model.engine.types import FinishReason, SamplingParams

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about bonds.",
    "Explain compound interest in one paragraph, with an example of a savings account.",
    "List three stock exchanges.",
]
NUM_NEW = 12


def _tokenizer_dir() -> Path:
    root = Path(os.environ.get("HUIJIN_CACHE_DIR", Path(__file__).parents[3] / ".cache/huijin"))
    found = sorted((root / "models").glob("*/tokenizer.json"))
    if not found:
        pytest.skip(f"no converted checkpoint's tokenizer under {root / 'models'}")
    return found[0].parent


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """SmolLM2-135M's architecture (30 layers, 9 query / 3 KV heads), random weights, float32."""
    from transformers import AutoConfig, AutoModelForCausalLM

    source = _tokenizer_dir()
    directory = tmp_path_factory.mktemp("smollm2-shape")
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, directory / name)
    config = AutoConfig.for_model(
        "llama",
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(25.0)  # tied head: logit gaps ~1, not ~0.05
    model.save_pretrained(directory)
    return directory


def _engine(checkpoint: Path, **options) -> TransformersEngine:
    return TransformersEngine(
        TransformersEngineConfig(model=str(checkpoint), model_id="smollm2-shape", **options)
    )


@pytest.fixture(scope="module")
def engine(checkpoint: Path) -> Iterator[TransformersEngine]:
    """float32 on CUDA, every other option at its default (fast decode, preallocated cache)."""
    engine = _engine(checkpoint, device="cuda", dtype="float32")
    yield engine
    engine.close()


def conversation(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def greedy(n: int = NUM_NEW, **kwargs) -> SamplingParams:
    return SamplingParams(max_new_tokens=n, **kwargs)


def test_auto_device_is_cuda_in_bfloat16(checkpoint: Path) -> None:
    engine = _engine(checkpoint, device="auto")
    try:
        info = engine.info()
        assert info.device == "cuda" and info.dtype == "bfloat16"
        assert next(engine._runner.model.parameters()).is_cuda
        result = engine.chat(conversation(PROMPTS[0]), params=greedy())
        assert len(result.completion_ids) == NUM_NEW
        assert result.finish_reason == FinishReason.LENGTH
        batched = engine.chat_batch([conversation(p) for p in PROMPTS], params=greedy())
        assert [len(r.completion_ids) for r in batched] == [NUM_NEW] * len(PROMPTS)
    finally:
        engine.close()


def test_greedy_equals_transformers_generate(engine: TransformersEngine) -> None:
    """The engine's decode loop (fast step, preallocated cache) against transformers' own."""
    result = engine.chat(conversation(PROMPTS[2]), params=greedy())
    model = engine._runner.model
    ids = torch.tensor([result.prompt_ids], device="cuda")
    with torch.inference_mode():
        reference = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=NUM_NEW, do_sample=False
        )
    assert result.completion_ids == reference[0, ids.shape[1] :].tolist()


def test_batched_greedy_equals_solo(engine: TransformersEngine) -> None:
    solo = [engine.chat(conversation(p), params=greedy(top_logprobs=1)) for p in PROMPTS]
    steps_before = engine.stats.num_batched_steps
    batched = engine.chat_batch([conversation(p) for p in PROMPTS], params=greedy(top_logprobs=1))
    assert engine.stats.num_batched_steps > steps_before
    for alone, together in zip(solo, batched, strict=True):
        assert together.completion_ids == alone.completion_ids
        assert torch.allclose(
            torch.tensor(together.logprobs), torch.tensor(alone.logprobs), atol=1e-3
        )


def test_prefix_cache_and_partial_turns(engine: TransformersEngine) -> None:
    """A second prompt that begins like the first prefills only its new tokens; continuing a
    partial assistant turn gives the tokens a full greedy run would have given."""
    first = engine.chat(conversation(PROMPTS[3]), params=greedy())
    reused_before = engine.info().extra["prefix_reused_tokens"]
    prompt = engine.render_prompt(conversation(PROMPTS[3]))
    whole = engine.complete(prompt, params=greedy())
    assert whole.completion_ids == first.completion_ids
    assert engine.info().extra["prefix_reused_tokens"] > reused_before
    head = engine.detokenize(first.completion_ids[:4])
    rest = engine.complete(first.prompt_ids + first.completion_ids[:4], params=greedy(NUM_NEW - 4))
    assert rest.completion_ids == first.completion_ids[4:]
    assert head and (head + rest.text).startswith(head)


def test_nqkv_cache_on_cuda(checkpoint: Path) -> None:
    """With a residual window of 4 most of each prompt is stored in 4 bits; the quantized
    engine still runs, batches, and its first greedy token is the float one's."""
    quantized = _engine(
        checkpoint, device="cuda", dtype="float32", kv_cache="nqkv4", kv_residual_tokens=4
    )
    try:
        assert quantized.info().extra["kv_cache"] == "nqkv4"
        alone = quantized.chat(conversation(PROMPTS[2]), params=greedy())
        batched = quantized.chat_batch([conversation(p) for p in PROMPTS], params=greedy())
        assert [len(r.completion_ids) for r in batched] == [NUM_NEW] * len(PROMPTS)
        assert batched[2].completion_ids[:4] == alone.completion_ids[:4]
    finally:
        quantized.close()


def test_ar_sampling_on_cuda(engine: TransformersEngine) -> None:
    """AR-Sampling end to end with the verifier PRM, threshold 1 so every step is rethought
    once: the token accounting matches what the engine generated."""
    from model.reasoning import load_prm, reason

    before = engine.stats.num_prefills, engine.stats.num_decode_tokens
    result = reason(
        engine,
        "Tom has 3 apples and buys 4 more. How many apples does he have?",
        prm=load_prm("verifier"),
        method="ar",
        num_samples=2,
        max_tokens=48,
        max_steps=3,
        threshold=1.0,
        seed=0,
    )
    calls = engine.stats.num_prefills - before[0]
    generated = calls + engine.stats.num_decode_tokens - before[1]
    assert len(result.samples) == 2
    assert result.usage.generated_tokens == generated
    assert result.chosen_index is not None
    assert all(s.usage.generated_tokens <= 48 for s in result.samples)


def test_seeded_sampling_same_in_and_out_of_a_batch(engine: TransformersEngine) -> None:
    params = SamplingParams(max_new_tokens=NUM_NEW, temperature=0.9, top_k=50, seed=7)
    alone = engine.chat(conversation(PROMPTS[1]), params=params)
    batch = engine.chat_batch([conversation(p) for p in PROMPTS], params=params)
    assert batch[1].completion_ids == alone.completion_ids


def test_constrained_tool_call_on_cuda(engine: TransformersEngine) -> None:
    """The xgrammar mask (the agent's constrained tool calls) on CUDA logits: even random
    weights write a valid call of the offered tool with a known ticker."""
    from model.engine.tool_grammar import ToolCallGrammar

    spec = {
        "type": "function",
        "function": {
            "name": "get_quote",
            "description": "Latest price of a ticker.",
            "parameters": {
                "type": "object",
                "properties": {"ticker": {"type": "string"}},
                "required": ["ticker"],
            },
        },
    }
    grammar = ToolCallGrammar(engine.tokenizer, engine.eos_ids, ["AAPL", "NVDA"])
    result = engine.chat(
        conversation("What is Apple's share price?"),
        tools=[spec],
        params=SamplingParams(max_new_tokens=64, temperature=0.8, seed=0),
        logits_processor=grammar.processor([spec]),
    )
    assert result.finish_reason == FinishReason.TOOL_CALLS
    assert [call.name for call in result.tool_calls] == ["get_quote"]
    assert result.tool_calls[0].arguments["ticker"] in ("AAPL", "NVDA")

"""Generation on the real embedded model: sampling, stops, logprobs, streaming, raw completion."""

from __future__ import annotations

import math

import pytest
import torch

from model.engine.transformers_engine import TransformersEngine
from model.engine.types import EngineError, FinishReason, SamplingParams

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
ESSAY = [{"role": "user", "content": "Write a short essay about the history of money."}]


def greedy(n: int, **kwargs: object) -> SamplingParams:
    return SamplingParams(max_new_tokens=n, **kwargs)  # type: ignore[arg-type]


def test_greedy_is_deterministic(embedded_engine: TransformersEngine) -> None:
    first = embedded_engine.chat(QUESTION, params=greedy(12))
    second = embedded_engine.chat(QUESTION, params=greedy(12))
    assert first.completion_ids == second.completion_ids
    assert first.text == second.text and "Paris" in first.text
    assert first.finish_reason == FinishReason.STOP  # ended on <|im_end|>
    assert first.completion_ids[-1] in embedded_engine.eos_ids
    assert "<|im_end|>" not in first.text
    assert first.usage.prompt_tokens == len(first.prompt_ids)
    assert first.usage.completion_tokens == len(first.completion_ids)
    assert 0 < first.time_to_first_token_s <= first.total_time_s


def test_max_new_tokens_gives_length(embedded_engine: TransformersEngine) -> None:
    result = embedded_engine.chat(ESSAY, params=greedy(5))
    assert result.finish_reason == FinishReason.LENGTH
    assert len(result.completion_ids) == 5


def test_seed_reproducible(embedded_engine: TransformersEngine) -> None:
    params = SamplingParams(max_new_tokens=10, temperature=1.0, top_p=0.95, seed=1234)
    first = embedded_engine.chat(ESSAY, params=params)
    second = embedded_engine.chat(ESSAY, params=params)
    other = embedded_engine.chat(
        ESSAY, params=SamplingParams(max_new_tokens=10, temperature=1.0, seed=99)
    )
    assert first.completion_ids == second.completion_ids
    assert other.completion_ids != first.completion_ids


def test_stop_string_excluded_and_found_across_tokens(embedded_engine: TransformersEngine) -> None:
    base = embedded_engine.chat(ESSAY, params=greedy(24))
    # A stop string that starts inside one token and ends inside the next.
    ids = base.completion_ids
    pieces = [embedded_engine.detokenize(ids[:i]) for i in range(len(ids) + 1)]
    split = next(i for i in range(3, len(ids)) if len(pieces[i]) - len(pieces[i - 1]) >= 3)
    stop = pieces[split][-2:] + pieces[split + 1][len(pieces[split]) :][:2]
    result = embedded_engine.chat(ESSAY, params=greedy(24, stop=(stop,)))
    assert result.finish_reason == FinishReason.STOP
    assert result.text == base.text[: base.text.index(stop)]
    assert stop not in result.text
    assert result.completion_ids == ids[: split + 1]  # the token completing the stop is kept


def test_logprobs_align_and_match_a_recomputed_forward(
    embedded_engine: TransformersEngine,
) -> None:
    result = embedded_engine.chat(ESSAY, params=greedy(8, top_logprobs=3))
    assert result.logprobs is not None and result.top_logprobs is not None
    assert len(result.logprobs) == len(result.completion_ids) == len(result.top_logprobs)
    assert all(math.isfinite(lp) and lp <= 0 for lp in result.logprobs)

    ids = torch.tensor([result.prompt_ids + result.completion_ids])
    with torch.inference_mode():
        logits = embedded_engine._runner.model(input_ids=ids).logits[0].float()
    start = len(result.prompt_ids) - 1
    expected = torch.log_softmax(logits[start : start + len(result.completion_ids)], -1)
    recomputed = expected.gather(1, torch.tensor(result.completion_ids)[:, None]).squeeze(1)
    # The default fast path streams int8 / float16 copies of the weights (as close as an 11-bit
    # mantissa) while this reference forward is float32; the exact paths agree to ~1e-4.
    is_exact = embedded_engine.info().extra["decode_weights"] == "float32"
    atol = 2e-3 if is_exact else 1e-2
    assert torch.allclose(torch.tensor(result.logprobs), recomputed, atol=atol)
    # Greedy: the chosen token is the most likely one, so it heads its top_logprobs.
    for logprob, top in zip(result.logprobs, result.top_logprobs, strict=True):
        assert len(top) == 3 and math.isclose(max(top.values()), logprob, abs_tol=1e-5)


def test_logprobs_can_be_turned_off(embedded_engine: TransformersEngine) -> None:
    result = embedded_engine.chat(QUESTION, params=greedy(3, logprobs=False))
    assert result.logprobs is None and result.top_logprobs is None


def test_stream_concatenation_equals_final_text(embedded_engine: TransformersEngine) -> None:
    events = list(embedded_engine.stream_chat(ESSAY, params=greedy(20, stop=("XYZ",))))
    final = events[-1]
    assert final.finish_reason is not None and final.result is not None
    assert all(e.finish_reason is None and e.result is None for e in events[:-1])
    assert "".join(e.text for e in events) == final.result.text
    assert [t for e in events for t in e.token_ids] == final.result.completion_ids
    assert [lp for e in events for lp in (e.logprobs or [])] == final.result.logprobs
    assert len(events) > 2  # really incremental


def test_stream_handles_multibyte_characters(embedded_engine: TransformersEngine) -> None:
    messages = [{"role": "user", "content": "Say 'café 你好 🚀' three times."}]
    events = list(embedded_engine.stream_chat(messages, params=greedy(24)))
    result = events[-1].result
    assert result is not None
    assert "".join(e.text for e in events) == result.text
    assert all("\ufffd" not in e.text for e in events[:-1])


def test_complete_continues_a_partial_assistant_turn(embedded_engine: TransformersEngine) -> None:
    chat = embedded_engine.chat(ESSAY, params=greedy(16))
    k = 6
    by_ids = embedded_engine.complete(chat.prompt_ids + chat.completion_ids[:k], greedy(16 - k))
    assert by_ids.completion_ids == chat.completion_ids[k:]

    partial = embedded_engine.detokenize(chat.completion_ids[:k])
    prompt = embedded_engine.render_prompt(ESSAY) + partial
    by_text = embedded_engine.complete(prompt, greedy(4))
    assert chat.text.startswith(partial + by_text.text)


def test_user_errors_are_engine_errors(embedded_engine: TransformersEngine) -> None:
    with pytest.raises(EngineError, match="empty"):
        embedded_engine.complete("", greedy(2))
    too_long = [1] * (embedded_engine.info().context_length + 1)
    with pytest.raises(EngineError, match="context"):
        embedded_engine.complete(too_long, greedy(2))
    with pytest.raises(EngineError, match="token ids"):
        embedded_engine.complete([1, 10**9], greedy(2))


def test_forced_tool_call_finishes_with_tool_calls(embedded_engine: TransformersEngine) -> None:
    """A logits processor (the xgrammar seam) forces a Hermes call; the engine parses it."""
    call = '<tool_call>\n{"name": "get_price", "arguments": {"ticker": "NVDA"}}\n</tool_call>'
    forced = [*embedded_engine.tokenize(call), embedded_engine.tokenizer.eos_token_id]

    def force(history: list[int], logits: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(logits, float("-inf"))
        out[forced[len(history)]] = 0.0
        return out

    tools = [{"name": "get_price", "parameters": {"type": "object", "properties": {}}}]
    result = embedded_engine.chat(QUESTION, tools, greedy(64), logits_processor=force)
    assert result.finish_reason == FinishReason.TOOL_CALLS
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_price", {"ticker": "NVDA"})]
    assert result.content == "" and result.text == call


def test_info_describes_the_model(embedded_engine: TransformersEngine) -> None:
    info = embedded_engine.info()
    assert info.backend == "transformers" and info.model_id == "SmolLM2-135M-Instruct"
    assert info.source.endswith(".gguf") and info.dtype == "float32" and info.device == "cpu"
    assert 130e6 < info.num_parameters < 140e6
    weights_bytes = info.num_parameters * 4
    assert info.memory_bytes == weights_bytes + info.extra["packed_weights_bytes"]
    assert info.extra["fast_decode"] and info.extra["kv_cache"] == "preallocated"
    assert info.context_length == 8192 and info.load_time_s > 0

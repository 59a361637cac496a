"""Prefix reuse: a prompt that begins like a stored one prefills only its new tokens, and the
result is the one a full prefill gives."""

from __future__ import annotations

import pytest
import torch

from model.engine.kv_cache import get_kv_cache_kind
from model.engine.prefix_cache import PrefixCache
from model.engine.runner import ModelRunner
from model.engine.transformers_engine import TransformersEngine
from tests.model.engine.tiny_models import tiny_causal_lm

BUDGET = 64 * 2**20


def _layers(length: int, fill: float = 0.0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.full((1, 2, length, 8), fill), torch.full((1, 2, length, 8), fill))] * 2


def test_the_longest_common_prefix_is_found_and_the_last_token_always_runs() -> None:
    cache = PrefixCache(BUDGET, min_tokens=4)
    cache.store(list(range(20)), _layers(20, 1.0))
    cache.store([*range(10), 99, 98, 97, 96, 95], _layers(15, 2.0))
    length, layers = cache.match([*range(18), 7, 7])  # shares 18 tokens with the first
    assert length == 18 and layers is not None and float(layers[0][0][0, 0, 0, 0]) == 1.0
    assert layers[0][0].shape == (1, 2, 18, 8)
    length, _ = cache.match(list(range(20)))  # the whole prompt is stored: keep one to run
    assert length == 19
    assert cache.match([5, 6, 7, 8, 9, 10]) == (0, None)  # no common start
    assert cache.match([0, 1, 2]) == (0, None)  # too short to be worth it
    assert cache.stats.hits == 2 and cache.stats.reused_tokens == 37


def test_a_longer_prompt_replaces_its_prefix_and_the_budget_evicts_the_oldest() -> None:
    one_entry = 2 * 2 * (1 * 2 * 10 * 8 * 4)  # 2 layers x (keys + values) of 10 tokens
    cache = PrefixCache(one_entry * 2, min_tokens=4)
    cache.store(list(range(6)), _layers(6))
    cache.store(list(range(10)), _layers(10))  # covers the 6-token one
    assert len(cache) == 1
    cache.store(list(range(8)), _layers(8))  # already covered: not stored again
    assert len(cache) == 1
    cache.store([50 + i for i in range(10)], _layers(10))
    cache.store([80 + i for i in range(10)], _layers(10))  # evicts range(10), the oldest
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.match(list(range(12)))[0] == 0
    cache.store(list(range(400)), _layers(400))  # over the whole budget: never stored
    assert len(cache) == 2


def _runner(prefix_cache_bytes: int, kind: str = "preallocated") -> ModelRunner:
    return ModelRunner(
        tiny_causal_lm("llama", max_positions=512),
        get_kv_cache_kind(kind),
        fast_decode=kind == "preallocated",
        prefix_cache_bytes=prefix_cache_bytes,
    )


def _greedy(runner: ModelRunner, prompts: list[list[int]], steps: int = 6) -> tuple:
    logits, batch = runner.prefill_many(prompts)
    first = logits.clone()
    tokens = logits.argmax(-1).tolist()
    trace = [tokens]
    for _ in range(steps):
        tokens = runner.decode(batch, tokens).argmax(-1).tolist()
        trace.append(tokens)
    return first, trace


@pytest.mark.parametrize("kind", ["preallocated", "dynamic"])
def test_prefilling_after_a_stored_prefix_matches_the_full_prefill(kind: str) -> None:
    """Rows in order, hits and misses mixed in one call, the same logits and greedy tokens as a
    runner without the cache (which prefills every token); the fast decode step over the
    preallocated cache, and transformers' own forward over its dynamic cache."""
    reused, plain = _runner(BUDGET, kind), _runner(0, kind)
    assert plain.prefix_cache is None and reused.prefix_cache is not None
    system = [7 + (i * 13) % 250 for i in range(60)]
    turn_one = [*system, 11, 12, 13, 14]
    _greedy(reused, [turn_one])  # stored
    turn_two = [*turn_one, 21, 22, 23, 24, 25]  # the next step of the same conversation
    other = [*system, 31, 32]  # another episode with the same system prompt
    fresh = [200 + i for i in range(30)]  # nothing in common
    prompts = [turn_two, fresh, other]
    got_logits, got = _greedy(reused, prompts)
    want_logits, want = _greedy(plain, prompts)
    assert got == want
    assert torch.allclose(got_logits, want_logits, atol=1e-4)
    stats = reused.prefix_cache.stats
    assert stats.hits == 2 and stats.reused_tokens == len(turn_one) + len(system)


def test_quantized_caches_do_not_reuse_prefixes() -> None:
    runner = ModelRunner(
        tiny_causal_lm("llama"), get_kv_cache_kind("nqkv4"), prefix_cache_bytes=BUDGET
    )
    assert runner.prefix_cache is None


def test_the_engine_reuses_an_agent_conversation_prefix(
    embedded_engine: TransformersEngine,
) -> None:
    """The next turn of a conversation prefills only what was added; the answer is unchanged."""
    if embedded_engine._runner.prefix_cache is None:
        pytest.skip("the session engine runs without a prefix cache")
    messages = [
        {"role": "system", "content": "You are a careful financial analyst. " * 8},
        {"role": "user", "content": "What is a bond's yield to maturity?"},
    ]
    before = embedded_engine.info().extra
    first = embedded_engine.chat(messages)
    again = embedded_engine.chat(messages)
    after = embedded_engine.info().extra
    assert again.text == first.text
    assert after["prefix_cache_hits"] > before["prefix_cache_hits"]
    assert after["prefix_reused_tokens"] - before["prefix_reused_tokens"] >= 50
    embedded_engine.forget_prefixes()  # a forgotten prompt is prefilled afresh
    assert embedded_engine._runner.prefix_cache.match(first.prompt_ids)[0] == 0


@pytest.mark.parametrize("kind", ["preallocated", "dynamic"])
def test_prompts_of_one_prefill_that_begin_alike_run_their_shared_start_once(kind: str) -> None:
    """G copies of one prompt and prompts that grow from one another, all new to the cache and
    in one call: after the first, each prefills only what its sorted predecessor lacks, and the
    logits and greedy tokens are those of a runner that prefills every token."""
    reused, plain = _runner(BUDGET, kind), _runner(0, kind)
    system = [7 + (i * 13) % 250 for i in range(80)]
    copy = [*system, 11, 12]
    step_two = [*system, 11, 12, 21, 22, 23]
    other = [*system[:70], 40, 41, 42]  # shares 70 of the system tokens
    fresh = [200 + i for i in range(30)]  # nothing in common: the padded forward
    prompts = [step_two, copy, fresh, copy, other, copy]
    got_logits, got = _greedy(reused, prompts)
    want_logits, want = _greedy(plain, prompts)
    assert got == want
    assert torch.allclose(got_logits, want_logits, atol=1e-4)
    stats = reused.prefix_cache.stats
    assert stats.lookups == len(prompts)  # a chained prompt is counted once
    # Sorted: other, copy, copy, copy, step_two. `other` runs whole; the first copy reuses its
    # 70 tokens, the next two copies all but their last token, step_two the whole copy.
    assert stats.hits == 4
    assert stats.reused_tokens == 70 + 2 * (len(copy) - 1) + len(copy)


def test_sharing_within_a_prefill_can_be_turned_off() -> None:
    runner = _runner(BUDGET)
    runner.share_batch_prefixes = False
    prompt = [7 + (i * 13) % 250 for i in range(80)]
    runner.prefill_many([prompt, list(prompt)])
    assert runner.prefix_cache.stats.hits == 0

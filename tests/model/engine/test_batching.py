"""Continuous batching: many callers, one model, results equal to solo runs, clean shutdown."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import pytest
import torch

from model.engine.kv_cache import KVCacheKind, PreallocatedKVCacheKind
from model.engine.runner import DecodeBatch, ModelRunner
from model.engine.sampling import RowSampler
from model.engine.scheduler import Scheduler, group_for_prefill
from model.engine.sequence import Detokenizer
from model.engine.sequence import Sequence as GenSequence
from model.engine.transformers_engine import TransformersEngine
from model.engine.types import EngineError, FinishReason, SamplingParams

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about bonds.",
    "Explain compound interest in one paragraph, with an example of a savings account.",
    "List three stock exchanges.",
]
NUM_COMPARED = 8  # greedy tokens compared between batched and solo runs


def conversation(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_batched_greedy_equals_solo(embedded_engine: TransformersEngine) -> None:
    params = SamplingParams(max_new_tokens=NUM_COMPARED)
    solo = [embedded_engine.chat(conversation(p), params=params) for p in PROMPTS]
    steps_before = embedded_engine.stats.num_batched_steps
    batched = embedded_engine.chat_batch([conversation(p) for p in PROMPTS], params=params)
    assert embedded_engine.stats.num_batched_steps > steps_before
    for alone, together in zip(solo, batched, strict=True):
        assert together.completion_ids == alone.completion_ids
        # Padding changes float rounding in attention; the int8 decode kernel's input rounding
        # (int16 per group of 32) can carry such a difference one step further: ~1e-3.
        assert torch.allclose(
            torch.tensor(together.logprobs), torch.tensor(alone.logprobs), atol=3e-3
        )


def test_seeded_sampling_same_in_and_out_of_a_batch(embedded_engine: TransformersEngine) -> None:
    params = SamplingParams(max_new_tokens=8, temperature=0.9, top_k=50, seed=7)
    alone = embedded_engine.chat(conversation(PROMPTS[1]), params=params)
    batch = embedded_engine.chat_batch([conversation(p) for p in PROMPTS], params=params)
    assert batch[1].completion_ids == alone.completion_ids


def test_concurrent_callers_are_batched(embedded_engine: TransformersEngine) -> None:
    num_callers = 6
    barrier = threading.Barrier(num_callers)
    results: dict[int, object] = {}

    def call(i: int) -> None:
        barrier.wait()
        results[i] = embedded_engine.chat(
            conversation(PROMPTS[i % len(PROMPTS)]), params=SamplingParams(max_new_tokens=12)
        )

    steps_before = embedded_engine.stats.num_batched_steps
    threads = [threading.Thread(target=call, args=(i,)) for i in range(num_callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == list(range(num_callers))
    assert embedded_engine.stats.num_batched_steps > steps_before
    assert embedded_engine.stats.max_batch_size_seen > 1


def test_late_request_joins_a_running_batch(embedded_engine: TransformersEngine) -> None:
    long_params = SamplingParams(max_new_tokens=40, stop=("never-appears",))
    short_params = SamplingParams(max_new_tokens=6)
    solo_short = embedded_engine.chat(conversation(PROMPTS[0]), params=short_params)

    stream = embedded_engine.stream_chat(conversation(PROMPTS[2]), params=long_params)
    next(stream), next(stream)  # the long request is decoding now
    short = embedded_engine.chat(conversation(PROMPTS[0]), params=short_params)
    rest = list(stream)
    assert rest[-1].result is not None
    assert len(rest) > 1, "the short request should have finished while the long one decoded"
    assert short.completion_ids == solo_short.completion_ids


def test_abandoned_stream_is_cancelled(embedded_engine: TransformersEngine) -> None:
    stream = embedded_engine.stream_chat(
        conversation(PROMPTS[2]), params=SamplingParams(max_new_tokens=200)
    )
    next(stream)
    stream.close()  # the caller walked away: the row must leave the batch
    deadline = time.monotonic() + 30
    while embedded_engine._scheduler._running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not embedded_engine._scheduler._running
    assert embedded_engine.chat(conversation(PROMPTS[0]), params=SamplingParams(max_new_tokens=3))


def _sequence(engine: TransformersEngine, text: str, max_new_tokens: int) -> GenSequence:
    params = SamplingParams(max_new_tokens=max_new_tokens)
    return GenSequence(
        prompt_ids=engine.tokenize(engine.render_prompt(conversation(text))),
        params=params,
        sampler=RowSampler.create(params),
        model_id=engine.model_id,
        max_total_tokens=8192,
    )


class _FailingDecodeRunner(ModelRunner):
    """The real model, but every decode step raises: a stand-in for an OOM or a kernel error."""

    def decode(self, batch: DecodeBatch, token_ids: Sequence[int]) -> torch.Tensor:
        raise RuntimeError("simulated kernel failure")


def test_failing_step_fails_its_requests_and_the_thread_survives(
    embedded_engine: TransformersEngine,
) -> None:
    runner = _FailingDecodeRunner(embedded_engine._runner.model, embedded_engine._runner.kv_cache)
    scheduler = Scheduler(runner, Detokenizer(embedded_engine.detokenize, embedded_engine.eos_ids))
    scheduler.start()
    try:
        for _ in range(2):  # the second request proves the thread is still serving
            seq = _sequence(embedded_engine, PROMPTS[0], 5)
            scheduler.submit(seq)
            error = seq.events.get(timeout=60)
            assert isinstance(error, EngineError) and "simulated kernel failure" in str(error)
        assert scheduler.is_alive and scheduler.stats.num_failed == 2
    finally:
        scheduler.close()


def test_close_aborts_pending_and_running_requests(embedded_engine: TransformersEngine) -> None:
    scheduler = Scheduler(
        embedded_engine._runner,
        Detokenizer(embedded_engine.detokenize, embedded_engine.eos_ids),
        max_batch_size=1,
    )
    scheduler.start()
    running = _sequence(embedded_engine, PROMPTS[2], 500)
    waiting = _sequence(embedded_engine, PROMPTS[0], 500)
    scheduler.submit(running)
    scheduler.submit(waiting)  # no room: max_batch_size=1
    while not running.completion_ids:
        time.sleep(0.01)
    scheduler.close()
    assert not scheduler.is_alive
    for seq in (running, waiting):
        event = seq.events.get(timeout=5)
        assert event.finish_reason == FinishReason.ABORT and event.result is not None
    with pytest.raises(EngineError, match="closed"):
        scheduler.submit(_sequence(embedded_engine, PROMPTS[0], 2))


def test_runner_merge_and_select_match_solo_decoding(embedded_engine: TransformersEngine) -> None:
    """Rows of different lengths merged, decoded, one removed: logits stay those of solo runs."""
    for kind in (KVCacheKind(), PreallocatedKVCacheKind()):
        runner = ModelRunner(embedded_engine._runner.model, kind)
        prompts = [embedded_engine.tokenize(p) for p in PROMPTS[:3]]
        steps = 4

        solo_logits = []
        for ids in prompts:
            logits, batch = runner.prefill(ids)
            row = [logits]
            for _ in range(steps):
                row.append(runner.decode(batch, [int(row[-1].argmax())])[0])
            solo_logits.append(row)

        firsts, batches = zip(*(runner.prefill(ids) for ids in prompts), strict=True)
        batch = runner.merge(list(batches))
        assert batch.is_padded
        tokens = [int(f.argmax()) for f in firsts]
        rows = [0, 1, 2]
        for step in range(1, steps + 1):
            logits = runner.decode(batch, tokens)
            for i, row in enumerate(rows):
                assert torch.allclose(logits[i], solo_logits[row][step], atol=1e-3), (
                    kind.name,
                    step,
                    row,
                )
            tokens = [int(logits[i].argmax()) for i in range(len(rows))]
            if step == 2:  # the longest prompt leaves; its padding columns must go too
                batch = runner.select(batch, [0, 1])
                tokens, rows = tokens[:2], rows[:2]
        assert batch.attention_mask.shape[1] == max(len(p) for p in prompts[:2]) + steps


def test_prefill_groups_similar_lengths() -> None:
    def seq_of(length: int) -> GenSequence:
        params = SamplingParams()
        return GenSequence([1] * length, params, RowSampler.create(params), "m", 8192)

    groups = group_for_prefill([seq_of(n) for n in (40, 10, 42, 11, 3000, 2000)])
    assert [[len(s.prompt_ids) for s in g] for g in groups] == [[10, 11], [40, 42], [2000], [3000]]


def test_shared_prefill_matches_solo_prefill(embedded_engine: TransformersEngine) -> None:
    runner = embedded_engine._runner
    prompts = [embedded_engine.tokenize(p) for p in PROMPTS]
    together, batch = runner.prefill_many(prompts)
    assert batch.is_padded and batch.positions.tolist() == [len(p) for p in prompts]
    for row, ids in enumerate(prompts):
        alone, _ = runner.prefill(ids)
        assert torch.allclose(together[row], alone, atol=1e-3)


def test_a_script_that_never_closes_the_engine_exits_cleanly() -> None:
    """The scheduler thread is stopped at interpreter exit, not killed inside torch (rc 134)."""
    script = (
        "from model.engine.transformers_engine import TransformersEngine\n"
        "from model.engine.types import SamplingParams\n"
        "engine = TransformersEngine()\n"
        "engine.chat([{'role': 'user', 'content': 'Hi'}], params=SamplingParams(max_new_tokens=2))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr

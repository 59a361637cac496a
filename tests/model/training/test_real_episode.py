"""A real agent episode (the embedded model, the real tools, the offline snapshot) rebuilds into
training sequences token for token. Slow: one full agent episode is ~30 s on 2 CPU cores."""

from __future__ import annotations

import pytest

from model.training.dataset import check_tokenizer
from model.training.samples import rebuild_samples

pytestmark = pytest.mark.slow


def test_a_logged_agent_episode_rebuilds_exactly(make_assistant, embedded_engine, tokenizer):
    assistant = make_assistant(embedded_engine, agent_max_steps=2)
    answer = assistant.ask("What was KO's close on 2023-11-06?")
    record = assistant.store.get(answer.trajectory_id)
    assert record.turns and record.tool_calls
    check_tokenizer([record], tokenizer)  # fingerprint logged by the agent, ids in range
    samples, counts = rebuild_samples(record, max_length=8192, need_logprobs=True)
    assert counts.too_long == counts.empty == counts.no_logprobs == 0
    turns = {turn.turn_index: turn for turn in record.turns}
    for sample in samples:
        last = turns[sample.turn_indices[-1]]
        assert sample.input_ids == last.prompt_ids + last.completion_ids
        written = [t for t, m in zip(sample.input_ids, sample.completion_mask, strict=True) if m]
        assert written == [t for i in sample.turn_indices for t in turns[i].completion_ids]
        context = tokenizer.decode(
            [t for t, m in zip(sample.input_ids, sample.completion_mask, strict=True) if not m]
        )
        if len(sample.turn_indices) > 1 or sample.turn_indices[0] > 0:
            assert record.tool_calls[0].result.splitlines()[0] in context  # masked
    assert sorted(i for s in samples for i in s.turn_indices) == sorted(turns)

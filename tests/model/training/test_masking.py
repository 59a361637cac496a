"""Rebuilding logged turns exactly, and the completion mask: tool results never get gradient."""

from __future__ import annotations

import pytest
import torch

from model.training.forward import collate, completion_logits
from model.training.objective import ClipRange, grpo_loss, token_logprobs
from model.training.samples import rebuild_samples
from tests.model.training.episodes import scripted_episode, tool_result

ANSWER = "KO closed at 56.97 on 2023-11-06."


@pytest.fixture(scope="module")
def episode(tokenizer):
    return scripted_episode(
        tokenizer,
        question="What was KO's close on 2023-11-06?",
        ticker="KO",
        day="2023-11-06",
        close=56.97,
        answer=ANSWER,
    )


def test_turns_rebuild_into_one_sequence_with_only_completions_unmasked(episode, tokenizer):
    samples, counts = rebuild_samples(episode, max_length=4096, need_logprobs=True)
    first, second = episode.turns
    assert counts.num_turns == 2 and counts.too_long == 0
    # The second prompt re-reads the first turn exactly, so both turns share one sequence.
    assert len(samples) == 1
    sample = samples[0]
    assert sample.input_ids == second.prompt_ids + second.completion_ids
    assert sample.turn_indices == [0, 1]
    written = [t for t, keep in zip(sample.input_ids, sample.completion_mask, strict=True) if keep]
    assert written == first.completion_ids + second.completion_ids
    # Every context token is masked: system prompt, question, tool schema and the tool result.
    context = tokenizer.decode(
        [t for t, keep in zip(sample.input_ids, sample.completion_mask, strict=True) if not keep]
    )
    assert tool_result("KO", "2023-11-06", 56.97) in context and "You answer questions" in context
    assert tool_result("KO", "2023-11-06", 56.97) not in tokenizer.decode(written)
    lp = [
        v for v, keep in zip(sample.behaviour_logprobs, sample.completion_mask, strict=True) if keep
    ]
    assert lp == first.logprobs + second.logprobs


def test_a_turn_too_long_is_skipped_and_counted_never_cut(episode):
    first = episode.turns[0]
    limit = len(first.prompt_ids) + len(first.completion_ids)
    samples, counts = rebuild_samples(episode, max_length=limit, need_logprobs=True)
    assert counts.too_long == 1
    assert [s.turn_indices for s in samples] == [[0]]
    assert samples[0].input_ids == first.prompt_ids + first.completion_ids


def test_turns_that_do_not_extend_the_sequence_start_a_new_one(episode):
    edited = episode.model_copy(deep=True)
    edited.turns[1].prompt_ids[3] += 1  # the second prompt no longer re-reads the first turn
    samples, _ = rebuild_samples(edited, max_length=4096, need_logprobs=True)
    assert [s.turn_indices for s in samples] == [[0], [1]]
    assert samples[1].input_ids == edited.turns[1].prompt_ids + edited.turns[1].completion_ids


def test_turns_without_logprobs_are_skipped_for_rl_only(episode):
    edited = episode.model_copy(deep=True)
    edited.turns[0].logprobs = None
    samples, counts = rebuild_samples(edited, max_length=4096, need_logprobs=True)
    assert counts.no_logprobs == 1 and [s.turn_indices for s in samples] == [[1]]
    samples, counts = rebuild_samples(edited, max_length=4096, need_logprobs=False)
    assert counts.no_logprobs == 0 and [s.turn_indices for s in samples] == [[0, 1]]


class FullLogits(torch.nn.Module):
    """The tiny model returning logits at every position (ignoring logits_to_keep), keeping
    them so the test can read their gradient."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.logits: torch.Tensor | None = None

    def forward(self, input_ids, attention_mask, logits_to_keep, use_cache):
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache)
        output.logits.retain_grad()
        self.logits = output.logits
        return output


def test_tool_result_tokens_never_get_gradient(episode, tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    samples, _ = rebuild_samples(episode, max_length=4096, need_logprobs=True)
    samples[0].advantage = 1.0
    batch = collate(samples, pad_id=2)
    wrapped = FullLogits(model)
    logits = completion_logits(wrapped, batch)
    logprobs = token_logprobs(logits, batch.target_ids)
    loss, _ = grpo_loss(
        logprobs, batch.behaviour_logprobs, batch.advantages, batch.num_tokens, ClipRange(10, 10)
    )
    loss.backward()
    # (tokens,): the gradient reaching each position's logits
    grad = wrapped.logits.grad[0].abs().sum(-1)
    predicts_completion = torch.tensor([*samples[0].completion_mask[1:], False])
    assert (grad[~predicts_completion] == 0).all(), (
        "a context token (e.g. the tool result) got loss"
    )
    assert (grad[predicts_completion] > 0).all()
    # Explicitly: the positions that predict the tool-result turn (between the two completions).
    first, second = episode.turns
    start, end = len(first.prompt_ids) + len(first.completion_ids), len(second.prompt_ids)
    assert tool_result("KO", "2023-11-06", 56.97) in tokenizer.decode(
        samples[0].input_ids[start:end]
    )
    assert grad[start - 1 : end - 1].sum() == 0


def test_completion_only_logits_equal_the_full_forward(episode, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    samples, _ = rebuild_samples(episode, max_length=4096, need_logprobs=True)
    short = rebuild_samples(episode, max_length=len(samples[0]) - 1, need_logprobs=True)[0]
    batch = collate([samples[0], short[0]], pad_id=2)  # two rows, padded
    with torch.no_grad():
        kept = token_logprobs(completion_logits(model, batch), batch.target_ids)
        full = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        reference = token_logprobs(full[batch.keep], batch.target_ids)
    torch.testing.assert_close(kept, reference, rtol=1e-5, atol=1e-5)
    assert batch.num_tokens == samples[0].num_completion_tokens + short[0].num_completion_tokens

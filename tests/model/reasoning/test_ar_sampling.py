"""AR-Sampling: the trigger text, where it goes, the m rule, and the token accounting on the real model."""

from __future__ import annotations

import pytest

from model.engine.types import ChatResult, FinishReason, SamplingParams, Usage
from model.reasoning import ReasoningConfig, load_prm, reason, rethink_trigger
from model.reasoning.ar_sampling import _append_step, _maybe_rethink, _Path
from model.reasoning.result import Step
from model.reasoning.steps import STEP_STOPS, step_messages

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"


def test_the_trigger_is_the_papers_sentence_then_a_new_header():
    assert rethink_trigger(3) == (
        "Wait! Maybe I made some mistakes in Step 3. I need to rethink from it.\n## Step 3: "
    )


def _path_with(*scores: float) -> _Path:
    path = _Path(index=0, text="## Step 1: x\n\n")
    path.steps = [
        Step(text=f"## Step {i + 1}: x", number=i + 1, score=s) for i, s in enumerate(scores)
    ]
    return path


def test_a_step_under_p_gets_the_trigger_appended_after_it():
    path = _path_with(0.9, 0.2)
    before = path.text
    _maybe_rethink(path, ReasoningConfig(threshold=0.4, max_rethinks=1))
    assert path.text == before + rethink_trigger(2)
    (rethink,) = path.rethinks
    assert (rethink.step_index, rethink.step_number, rethink.offset) == (1, 2, len(before))
    assert path.steps[1].triggered_rethink and path.pending == rethink_trigger(2)


def test_at_most_m_rethinks_in_a_row_then_the_counter_resets():
    config = ReasoningConfig(threshold=0.4, max_rethinks=2)
    path = _path_with(0.1)
    for expected_rethinks in (1, 2, 2, 3):  # weak, weak redo, weak redo (m spent: reset), weak
        _maybe_rethink(path, config)
        assert len(path.rethinks) == expected_rethinks
        path.steps.append(Step(text="redo", number=1, score=0.1))
    passing = _path_with(0.1)
    passing.rethinks_in_a_row = 1
    passing.steps[-1].score = 0.4  # not under p
    _maybe_rethink(passing, config)
    assert passing.rethinks == [] and passing.rethinks_in_a_row == 0


def test_m_zero_never_rethinks():
    path = _path_with(0.0)
    _maybe_rethink(path, ReasoningConfig(max_rethinks=0))
    assert path.rethinks == []


def _continuation(text: str, finish=FinishReason.STOP, num_tokens: int = 5) -> ChatResult:
    return ChatResult(text=text, model_id="m", finish_reason=finish, usage=Usage(100, num_tokens))


def test_a_continuation_after_a_trigger_is_one_redo_step_and_the_break_is_restored():
    path = _Path(index=0, text="## Step 1: x\n\n" + rethink_trigger(1), pending=rethink_trigger(1))
    path.is_pending_rethink = True
    config = ReasoningConfig(max_tokens=100)
    assert _append_step(path, _continuation("48 / 2 = 24"), is_end=False, config=config)
    assert path.text == "## Step 1: x\n\n" + rethink_trigger(1) + "48 / 2 = 24\n\n"
    (step,) = path.steps
    assert step.text == rethink_trigger(1) + "48 / 2 = 24" and step.is_rethink and step.number == 1
    assert (path.usage.generated_tokens, path.usage.prompt_tokens, path.usage.num_calls) == (
        5,
        100,
        1,
    )
    assert not path.is_done


def test_a_blank_step_is_drawn_again_twice_then_ends_the_path():
    path = _Path(index=0, text="## Step 1: ", pending="## Step 1: ")
    config = ReasoningConfig(temperature=0.8, max_tokens=100)
    for _ in range(2):
        assert not _append_step(path, _continuation(" "), is_end=False, config=config)
        assert path.text == "## Step 1: " and path.pending == "## Step 1: " and not path.is_done
    assert _append_step(path, _continuation(""), is_end=False, config=config)  # the header alone
    assert path.finish_reason == "stop" and path.usage.num_calls == 3
    greedy = _Path(index=0)
    _append_step(greedy, _continuation(""), is_end=False, config=ReasoningConfig(temperature=0.0))
    assert greedy.finish_reason == "stop"


def test_the_budget_ends_a_path():
    path = _Path(index=0)
    _append_step(
        path,
        _continuation("a b c", FinishReason.LENGTH, 7),
        is_end=True,
        config=ReasoningConfig(max_tokens=7),
    )
    assert path.finish_reason == "length" and path.steps[0].text == "a b c"


def _generated_so_far(engine):
    return engine.stats.num_prefills, engine.stats.num_decode_tokens


def test_ar_sampling_on_the_real_model_inserts_triggers_and_counts_tokens(embedded_engine):
    # p = 1 makes every step "weak" (the verifier never gives 1), so every allowed rethink happens.
    prefills, decoded = _generated_so_far(embedded_engine)
    result = reason(
        embedded_engine, QUESTION, prm=load_prm("verifier"), method="ar", num_samples=1,
        max_tokens=40, max_steps=4, temperature=0.0, threshold=1.0, max_rethinks=1,
    )  # fmt: skip
    (sample,) = result.samples
    # Token accounting: every token the engine generated for this call, and nothing else.
    assert result.usage.num_calls == embedded_engine.stats.num_prefills - prefills
    generated = result.usage.num_calls + embedded_engine.stats.num_decode_tokens - decoded
    assert sample.usage.generated_tokens == generated <= 40
    assert result.usage.prompt_tokens > result.usage.num_calls * 50  # each call re-reads its path
    assert sample.rethinks, sample.text
    prompt = embedded_engine.render_prompt(step_messages(QUESTION))
    for rethink in sample.rethinks:
        weak, redo = sample.steps[rethink.step_index], sample.steps[rethink.step_index + 1]
        before = sample.text[: rethink.offset]
        assert before.endswith("\n\n") and before.rstrip().endswith(weak.text)
        assert sample.text[rethink.offset :].startswith(rethink.trigger)
        assert rethink.trigger == rethink_trigger(weak.number) and weak.triggered_rethink
        assert redo.is_rethink and redo.text.startswith(rethink.trigger.strip().split("\n")[0])
        assert not redo.triggered_rethink  # m = 1: a failed redo is not redone again
    # The redo was generated from exactly: chat prompt + path up to the end of the trigger.
    first = sample.rethinks[0]
    prefix = sample.text[: first.offset + len(first.trigger)]
    replay = embedded_engine.complete(
        prompt + prefix, SamplingParams(max_new_tokens=40, temperature=0.0, stop=STEP_STOPS)
    )
    redo = sample.steps[first.step_index + 1]
    assert (first.trigger + replay.text).strip().startswith(redo.text)
    assert result.answer == sample.answer and result.chosen_index == 0


def test_ar_sampling_needs_a_prm_and_valid_options(embedded_engine):
    with pytest.raises(ValueError, match="needs a PRM"):
        reason(embedded_engine, QUESTION, method="ar")
    with pytest.raises(ValueError, match="threshold"):
        reason(embedded_engine, QUESTION, prm=load_prm("verifier"), threshold=1.5)
    with pytest.raises(ValueError, match="unknown reasoning option"):
        reason(embedded_engine, QUESTION, prm=load_prm("verifier"), n_samples=2)

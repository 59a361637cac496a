"""Reward terms of logged episodes, their weights from settings, and their storage."""

from __future__ import annotations

import pytest

from core.settings import load_settings
from core.trajectory import ToolCallRecordModel, TrajectoryStore
from model.training.rewards import RewardWeights, apply_rewards, episode_reward, is_invalid_call
from tests.model.training.episodes import scripted_episode

WEIGHTS = RewardWeights(outcome=1.0, format=0.2, grounding=0.5, step_cost=0.1)


def episode(tokenizer, **overrides):
    values = {
        "question": "What was KO's close on 2023-11-06?",
        "ticker": "KO",
        "day": "2023-11-06",
        "close": 56.97,
        "answer": "KO closed at 56.97.",
    }
    return scripted_episode(tokenizer, **(values | overrides))


def test_a_correct_grounded_answered_episode(tokenizer):
    terms = episode_reward(episode(tokenizer, score=1.0), WEIGHTS)
    assert (terms.outcome, terms.format, terms.grounding, terms.steps) == (1.0, 1.0, 0.0, -1.0)
    assert terms.total == pytest.approx(1.0 + 0.2 - 0.1)
    assert terms.is_correct and terms.num_valid_calls == 1 and terms.has_final_answer


def test_invalid_calls_unanswered_and_unsupported_numbers_cost_reward(tokenizer):
    record = episode(tokenizer, score=0.0, unsupported=["12.5", "7"])
    record.tool_calls.append(
        ToolCallRecordModel(
            turn_index=0, name="get_quote", result="error: bad arguments for get_quote: date"
        )
    )
    record.stop_reason = "max_steps"
    terms = episode_reward(record, WEIGHTS)
    # format: calls not all valid (0) + no own answer (0); grounding: 2 of 3 numbers unsupported
    assert (terms.outcome, terms.format) == (0.0, 0.0)
    assert terms.grounding == pytest.approx(-2 / 3)
    assert terms.total == pytest.approx(0.5 * -2 / 3 - 0.1)
    assert terms.num_invalid_calls == 1 and terms.num_unsupported_numbers == 2


def test_an_answer_that_is_a_tool_call_is_no_final_answer(tokenizer):
    record = episode(tokenizer)
    record.turns[-1].text = '<tool_call>\n{"name": "get_quote"}\n</tool_call>'
    assert not episode_reward(record, WEIGHTS).has_final_answer


def test_unscored_episodes_have_no_reward(tokenizer):
    assert episode_reward(episode(tokenizer, score=None), WEIGHTS) is None


def test_invalid_call_detection_tells_malformed_calls_from_missing_data():
    assert is_invalid_call("error: unknown tool 'foo'; available tools: a, b")
    assert is_invalid_call("error: tool 'x' is not offered for this question; use one of: a")
    assert not is_invalid_call("error: no price data for XYZ on 2020-01-01")
    assert not is_invalid_call("KO close on 2023-11-06: 56.97")


def test_weights_come_from_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("HUIJIN_TRAIN_REWARD_GROUNDING", "0.9")
    weights = RewardWeights.from_settings(load_settings(data_dir=tmp_path))
    assert weights == RewardWeights(outcome=1.0, format=0.2, grounding=0.9, step_cost=0.0)
    with pytest.raises(ValueError, match="format"):
        RewardWeights(format=-1.0)


def test_every_term_is_stored_on_the_trajectory(tokenizer, database):
    store = TrajectoryStore(database)
    record = episode(tokenizer, score=1.0)
    store.save(record)
    rewards = apply_rewards(store, [record], WEIGHTS)
    stored = store.get(record.id)
    assert stored.reward == pytest.approx(rewards[record.id].total)
    for key in ("outcome", "format", "grounding", "steps", "total", "score", "method", "weights"):
        assert key in stored.reward_terms
    assert stored.reward_terms["weights"]["step_cost"] == 0.1
    # Idempotent: the scorer's verdict is kept, so recomputing gives the same terms.
    again = apply_rewards(store, [store.get(record.id)], WEIGHTS)
    assert again[record.id] == rewards[record.id]

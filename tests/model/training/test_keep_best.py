"""Which evaluation score replaces the loop's best model (model/training/loop.py `beats`)."""

from __future__ import annotations

import pytest

from model.training.loop import beats

BEST = {"iteration": 0, "pass_rate": 0.8, "mean_reward": 0.90}


@pytest.mark.parametrize(
    ("score", "wins"),
    [
        ({"pass_rate": 0.85, "mean_reward": 0.10}, True),  # more questions passed: wins outright
        ({"pass_rate": 0.75, "mean_reward": 1.20}, False),  # fewer passed: reward cannot make up
        ({"pass_rate": 0.8, "mean_reward": 0.94}, True),  # a tie on passes, more reward
        ({"pass_rate": 0.8, "mean_reward": 0.90}, False),  # an exact tie keeps the incumbent
        ({"pass_rate": 0.8, "mean_reward": 0.75}, False),
        ({"pass_rate": 0.8}, False),  # no reward recorded: never wins a tie
    ],
)
def test_pass_rate_first_then_mean_reward_breaks_a_tie(score, wins):
    assert beats({"run_id": "r", **score}, BEST) is wins


def test_an_incumbent_without_a_reward_loses_a_tie_to_one_with_a_reward():
    assert beats({"pass_rate": 0.5, "mean_reward": 0.0}, {"pass_rate": 0.5})

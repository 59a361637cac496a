"""The process reward model contract: one score in [0, 1] for every step of a solution.

A PRM sees the question, the steps so far and any context the answer must agree with (tool
results, a filing table). Scoring is causal: step k's score depends on the question, the context
and steps 1..k only, which is what lets AR-Sampling score a path step by step as it grows. Every
implementation scores a batch of solutions at once so a model-backed PRM can batch its forwards.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Solution:
    """What a PRM scores: a question, its context, and the steps written so far."""

    question: str
    steps: tuple[str, ...]
    context: str = ""


@runtime_checkable
class ProcessRewardModel(Protocol):
    """Scores every step of every solution; `result[i][k]` is P(step k of solution i is right)."""

    @property
    def name(self) -> str: ...

    def score(self, solutions: Sequence[Solution]) -> list[list[float]]: ...


class ScoreAggregation(enum.StrEnum):
    """How a solution's step scores become one number (the reference code's agg_strategy)."""

    LAST = "last"  # the paper's choice: the PRM's judgement after the final step
    MIN = "min"
    PROD = "prod"
    MEAN = "mean"


def aggregate_scores(
    scores: Sequence[float], how: ScoreAggregation = ScoreAggregation.LAST
) -> float:
    """One score for a solution; a solution with no steps scores 0."""
    if not scores:
        return 0.0
    if how is ScoreAggregation.LAST:
        return float(scores[-1])
    if how is ScoreAggregation.MIN:
        return float(min(scores))
    if how is ScoreAggregation.PROD:
        return float(math.prod(scores))
    return float(sum(scores) / len(scores))


class CompositePRM:
    """A weighted mean of several PRMs' step scores (weights are normalised to sum to 1)."""

    def __init__(self, members: Sequence[tuple[ProcessRewardModel, float]]) -> None:
        if not members:
            raise ValueError("a composite PRM needs at least one member")
        if any(weight < 0 for _, weight in members) or sum(w for _, w in members) <= 0:
            raise ValueError("composite PRM weights must be >= 0 and not all 0")
        total = sum(weight for _, weight in members)
        self.members = [(prm, weight / total) for prm, weight in members]

    @property
    def name(self) -> str:
        return "+".join(f"{w:.2g}*{prm.name}" for prm, w in self.members)

    def score(self, solutions: Sequence[Solution]) -> list[list[float]]:
        combined = [[0.0] * len(s.steps) for s in solutions]
        for prm, weight in self.members:
            for row, member_row in zip(combined, prm.score(solutions), strict=True):
                assert len(row) == len(member_row), (
                    f"{prm.name} returned the wrong number of scores"
                )
                for k, value in enumerate(member_row):
                    row[k] += weight * value
        return combined


def check_scores(prm_name: str, solutions: Sequence[Solution], scores: list[list[float]]) -> None:
    """Our invariant for every PRM: one score per step, each in [0, 1]."""
    assert len(scores) == len(solutions), f"{prm_name}: {len(scores)} rows for {len(solutions)}"
    for solution, row in zip(solutions, scores, strict=True):
        assert len(row) == len(solution.steps), (
            f"{prm_name}: {len(row)} scores, {len(solution.steps)} steps"
        )
        assert all(0.0 <= value <= 1.0 for value in row), f"{prm_name}: score outside [0, 1]"

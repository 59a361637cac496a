"""Choosing one answer among N samples: majority, PRM-weighted vote, or the PRM's best.

Rules shared by all three: a sample with no extractable answer casts no vote; ties go to the answer
seen first (lowest sample index), so the choice is deterministic. The sample shown for the chosen
answer is, among those giving it, the one the PRM scores best (the first one without a PRM).
"""

from __future__ import annotations

from collections.abc import Sequence


def majority_vote(answers: Sequence[str | None]) -> tuple[str | None, dict[str, float]]:
    """The most frequent answer and the count for each."""
    return _winner(answers, [1.0] * len(answers))


def weighted_vote(
    answers: Sequence[str | None], weights: Sequence[float]
) -> tuple[str | None, dict[str, float]]:
    """The answer whose samples' PRM scores sum highest, and each answer's sum."""
    return _winner(answers, weights)


def best_of_n(scores: Sequence[float]) -> int | None:
    """Index of the best-scored sample (the first on a tie); None when there are none."""
    if not scores:
        return None
    best = max(scores)
    return next(i for i, score in enumerate(scores) if score == best)


def representative(
    answers: Sequence[str | None], answer: str | None, scores: Sequence[float] | None
) -> int | None:
    """The sample to show for `answer`: the best-scored one giving it, else the first."""
    indices = [i for i, a in enumerate(answers) if a == answer and answer is not None]
    if not indices:
        return None
    if scores is None:
        return indices[0]
    return max(indices, key=lambda i: (scores[i], -i))


def _winner(
    answers: Sequence[str | None], weights: Sequence[float]
) -> tuple[str | None, dict[str, float]]:
    totals: dict[str, float] = {}
    for answer, weight in zip(answers, weights, strict=True):
        if answer is not None:
            totals[answer] = totals.get(answer, 0.0) + float(weight)
    if not totals:
        return None, totals
    best = max(totals.values())
    return next(a for a, total in totals.items() if total == best), totals

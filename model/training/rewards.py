"""The episode reward: outcome, format, grounding and step cost, each logged on its own.

    terms = episode_reward(record, RewardWeights.from_settings(settings))
    terms.total, terms.to_dict()   # stored as Trajectory.reward / Trajectory.reward_terms

- outcome (in [0, 1]): the scorer's verdict against the gold answer, as the eval runner stored it
  (`reward_terms["score"]`); an episode nobody scored has no reward and is not trained on.
- format (in [0, 1]): half for calling tools with only valid calls (schema-valid arguments of an
  offered tool), half for ending with an answer the model wrote itself (not a step-limit stop).
- grounding (in [-1, 0]): minus the share of the numbers in the model's answer that no tool result
  (or the question) supports. It is read from the report agent/grounding.py made during the
  episode (`extra["grounding"]`, the numbers of the model's own answer even when the agent then
  replaced it), so training and the product judge an answer by the same rule; model.training
  reads it through core and never imports the agent.
- steps (<= 0): minus the model turns after the first, an optional cost for long episodes.

The total is the weighted sum; weights come from settings (`HUIJIN_TRAIN_REWARD_*`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from core.trajectory import TrajectoryRecord, TrajectoryStore

# Tool results (agent/graph.py, tools/registry.py) that mean the call itself was malformed,
# as opposed to a valid call that found no data.
_INVALID_CALL_MARKERS = (
    "unknown tool",
    "bad arguments",
    "arguments are not valid json",
    "arguments must be a json object",
    "is not offered for this question",
)
_ANSWERED = "answered"
_TOOL_CALL_MARKUP = "<tool_call>"


@dataclass(frozen=True)
class RewardWeights:
    """How much each term counts; all >= 0 (grounding and steps are penalties by sign)."""

    outcome: float = 1.0
    format: float = 0.2
    grounding: float = 0.5
    step_cost: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise ValueError(f"reward weight {name} must be >= 0 (got {value})")

    @classmethod
    def from_settings(cls, settings: Any) -> RewardWeights:
        return cls(
            outcome=settings.train_reward_outcome,
            format=settings.train_reward_format,
            grounding=settings.train_reward_grounding,
            step_cost=settings.train_reward_step_cost,
        )


@dataclass(frozen=True)
class RewardTerms:
    outcome: float
    format: float
    grounding: float
    steps: float
    total: float
    is_correct: bool
    num_valid_calls: int
    num_invalid_calls: int
    has_final_answer: bool
    num_unsupported_numbers: int
    grounding_checked: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_invalid_call(result: str) -> bool:
    """Whether a tool call's logged result says the call was malformed (not merely data-less)."""
    text = result.lower()
    return text.startswith("error:") and any(marker in text for marker in _INVALID_CALL_MARKERS)


def scorer_outcome(record: TrajectoryRecord) -> tuple[float, bool] | None:
    """(score in [0, 1], correct) as the scorer stored it, or None when the episode is unscored."""
    score = record.reward_terms.get("score")
    if score is None:
        return None
    return float(score), bool(record.reward_terms.get("correct", float(score) >= 1.0))


def episode_reward(record: TrajectoryRecord, weights: RewardWeights) -> RewardTerms | None:
    """Every reward term of one scored episode; None when nobody scored it."""
    outcome = scorer_outcome(record)
    if outcome is None:
        return None
    score, is_correct = outcome
    num_invalid = sum(is_invalid_call(call.result) for call in record.tool_calls)
    num_valid = len(record.tool_calls) - num_invalid
    has_answer = _has_own_answer(record)
    format_term = 0.5 * float(num_valid > 0 and num_invalid == 0) + 0.5 * float(has_answer)
    grounding = record.extra.get("grounding")
    checked = isinstance(grounding, dict) and "unsupported" in grounding
    supported = len(grounding.get("supported", [])) if checked else 0
    unsupported = len(grounding.get("unsupported", [])) if checked else 0
    grounding_term = -unsupported / (supported + unsupported) if unsupported else 0.0
    steps_term = -float(max(0, len(record.turns) - 1))
    total = (
        weights.outcome * score
        + weights.format * format_term
        + weights.grounding * grounding_term
        + weights.step_cost * steps_term
    )
    return RewardTerms(
        outcome=score,
        format=format_term,
        grounding=grounding_term,
        steps=steps_term,
        total=total,
        is_correct=is_correct,
        num_valid_calls=num_valid,
        num_invalid_calls=num_invalid,
        has_final_answer=has_answer,
        num_unsupported_numbers=unsupported,
        grounding_checked=checked,
    )


def _has_own_answer(record: TrajectoryRecord) -> bool:
    """The episode ended because the model answered, in a last turn with text and no call."""
    if record.stop_reason != _ANSWERED or not record.turns:
        return False
    last = record.turns[-1].text
    return bool(last.strip()) and _TOOL_CALL_MARKUP not in last


def reward_terms_dict(
    record: TrajectoryRecord, terms: RewardTerms, weights: RewardWeights
) -> dict[str, Any]:
    """What is stored: the scorer's own terms kept (so this is idempotent), every term added."""
    return {**record.reward_terms, **terms.to_dict(), "weights": asdict(weights)}


def apply_rewards(
    store: TrajectoryStore, records: Iterable[TrajectoryRecord], weights: RewardWeights
) -> dict[str, RewardTerms]:
    """Compute and store every scored episode's reward and terms; returns them by trajectory id."""
    rewards: dict[str, RewardTerms] = {}
    for record in records:
        terms = episode_reward(record, weights)
        if terms is None:
            continue
        stored = reward_terms_dict(record, terms, weights)
        store.set_reward(record.id, terms.total, stored)
        record.reward, record.reward_terms = terms.total, stored
        rewards[record.id] = terms
    return rewards

"""Verified reasoning: step splitting, process reward models, AR-Sampling and its baselines.

The public API is `reason()` with a `ReasoningConfig` and a PRM from `load_prm()`; everything
else is importable from its own module for tests and benchmarks.
"""

from model.reasoning.answers import extract_answer, normalize_answer
from model.reasoning.ar_sampling import rethink_trigger
from model.reasoning.config import Method, ReasoningConfig, Selection
from model.reasoning.policy import TokenUsage
from model.reasoning.prm import (
    CompositePRM,
    ProcessRewardModel,
    ScoreAggregation,
    Solution,
    aggregate_scores,
)
from model.reasoning.prm_factory import load_prm
from model.reasoning.reason import reason, rescore, reselect
from model.reasoning.result import ReasoningResult, Rethink, Sample, Step
from model.reasoning.steps import split_steps

__all__ = [
    "CompositePRM",
    "Method",
    "ProcessRewardModel",
    "ReasoningConfig",
    "ReasoningResult",
    "Rethink",
    "Sample",
    "ScoreAggregation",
    "Selection",
    "Solution",
    "Step",
    "TokenUsage",
    "aggregate_scores",
    "extract_answer",
    "load_prm",
    "normalize_answer",
    "reason",
    "rescore",
    "reselect",
    "rethink_trigger",
    "split_steps",
]

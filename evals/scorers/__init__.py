"""Scorers: one per benchmark convention, all returning `Score`.

`score_example` picks the benchmark's scorer; FinanceBench's free-text answers need an
`LlmJudge` (scores marked "llm-judge:<model>"), without one they stay unscored.
"""

from __future__ import annotations

from typing import Any

from evals.example import Example
from evals.scorers.financebench import LlmJudge, score_financebench
from evals.scorers.finqa import score_finqa
from evals.scorers.gsm8k import score_gsm8k
from evals.scorers.math500 import score_math
from evals.scorers.score import Score, final_answer
from evals.scorers.tatqa import score_tatqa
from evals.scorers.tooluse import score_tooluse

__all__ = ["LlmJudge", "Score", "final_answer", "score_example"]


def score_example(
    example: Example,
    reply: str,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    judge: LlmJudge | None = None,
) -> Score:
    benchmark = example.benchmark
    if benchmark in {"finqa", "convfinqa"}:
        return score_finqa(example, reply)
    if benchmark == "tatqa":
        return score_tatqa(example, reply)
    if benchmark == "gsm8k":
        return score_gsm8k(example, reply)
    if benchmark == "math500":
        return score_math(example, reply)
    if benchmark == "financebench":
        return score_financebench(example, reply, judge)
    if benchmark == "tooluse":
        return score_tooluse(example, reply, tool_calls)
    raise ValueError(f"no scorer for benchmark {benchmark!r}")

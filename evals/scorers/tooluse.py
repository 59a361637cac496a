"""Tool-use suite scoring: whether the final answer states the gold number (or names the ticker
chosen), and whether the agent called an expected tool (reported, not required for correctness).
The same rule as benchmarks/agent_quality.py, so the suite's runs and the benchmark agree."""

from __future__ import annotations

from typing import Any

from evals.example import AnswerType, Example
from evals.scorers.numeric import contains_matching_number
from evals.scorers.score import Score, marked_answer

METHOD = "tooluse-numeric"


def chosen_ticker(reply: str, choices: list[str]) -> str:
    """The one of `choices` the answer names; '' when it names none or both.

    The answer line decides; failing that the last line naming exactly one (a line naming both
    is a comparison, not a choice); failing that the whole reply.
    """
    answer, _ = marked_answer(reply)
    lines = [line for line in reply.splitlines() if line.strip()]
    for text in (answer, *reversed(lines), reply):
        words = {w.strip(".,:;!?*()'\"").upper() for w in text.split()}
        named = [c for c in choices if c.upper() in words]
        if len(named) == 1:
            return named[0]
    return ""


def score_tooluse(
    example: Example, reply: str, tool_calls: list[dict[str, Any]] | None = None
) -> Score:
    called = [call.get("name", "") for call in tool_calls or []]
    wanted = set(example.expected_tools) | set(example.metadata.get("acceptable_tools", []))
    details = {
        "tools_called": called,
        "used_expected_tool": bool(set(called) & set(example.expected_tools)),
        "used_acceptable_tool": bool(set(called) & wanted),
    }
    if example.answer_type is AnswerType.SPAN:
        picked = chosen_ticker(reply, example.metadata.get("choices", []))
        correct = picked == example.gold
        return Score(correct, float(correct), METHOD, picked, details)
    assert example.gold_value is not None
    # The agent's answer is often its tools' own lines (HUIJIN_AGENT_ANSWER=quote), where the
    # last number is an input, not the result: the answer is right when it states the gold.
    correct, extracted = contains_matching_number(
        example.gold_value,
        reply,
        rel_tol=float(example.metadata.get("rel_tol", 1e-3)),
        sign_free=bool(example.metadata.get("sign_free")),
    )
    return Score(correct, float(correct), METHOD, extracted, details)

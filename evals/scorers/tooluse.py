"""Tool-use suite scoring: the number (or the ticker chosen) in the final answer, and whether the
agent called an expected tool (reported, not required for correctness)."""

from __future__ import annotations

from typing import Any

from evals.example import AnswerType, Example
from evals.numbers import find_numbers
from evals.scorers.numeric import number_matches
from evals.scorers.score import Score, marked_answer

METHOD = "tooluse-numeric"


def chosen_ticker(reply: str, choices: list[str]) -> str:
    """The one of `choices` the answer names; '' when it names none or both."""
    answer, _ = marked_answer(reply)
    for text in (answer, reply):
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
    gold = example.gold_value
    rel_tol = float(example.metadata.get("rel_tol", 1e-3))
    correct, extracted = number_matches(gold, reply, rel_tol=rel_tol)
    if not correct and example.metadata.get("sign_free"):
        # "a 12.2% drawdown" states the fall as a positive number.
        numbers = find_numbers(marked_answer(reply)[0]) or find_numbers(reply)
        if numbers:
            correct, extracted = number_matches(-gold, reply.replace("-", ""), rel_tol=rel_tol)
    return Score(correct, float(correct), METHOD, extracted, details)

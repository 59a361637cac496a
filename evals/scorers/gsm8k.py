"""GSM8K scoring: the reply's final number equals the gold number.

The final number is the one after '####' or an 'answer is' marker when the reply has one, else
the last number in the reply (the usual GSM8K protocol); '$1,234.00' reads as 1234.
"""

from __future__ import annotations

import math

from evals.example import Example
from evals.numbers import find_numbers
from evals.scorers.score import Score, marked_answer

METHOD = "gsm8k-final-number"


def final_number(reply: str) -> float | None:
    answer, is_marked = marked_answer(reply)
    numbers = find_numbers(answer) if is_marked else []
    if numbers:
        return numbers[0][0]
    numbers = find_numbers(reply)
    return numbers[-1][0] if numbers else None


def score_gsm8k(example: Example, reply: str) -> Score:
    value = final_number(reply)
    if value is None or example.gold_value is None:
        return Score(False, 0.0, METHOD, "")
    correct = math.isclose(value, example.gold_value, rel_tol=0, abs_tol=1e-6)
    return Score(correct, float(correct), METHOD, f"{value:g}")

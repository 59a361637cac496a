"""Numeric answer matching with the conventions financial benchmarks use.

A reply matches a gold number when, after trying the percent <-> decimal readings (14.1% vs
0.141), it is within a relative tolerance, or it is the gold number rounded to the decimals the
reply shows (gold 0.14136, reply "14.1%") with at least two significant digits kept.
"""

from __future__ import annotations

import math

from evals.numbers import close, decimals_of, find_numbers, parse_number
from evals.scorers.score import Score, final_answer, marked_answer

YES_NO = {"yes", "no"}


def candidates(value: float, is_pct: bool, decimals: int) -> list[tuple[float, int]]:
    """Readings of a reply's number as (value, decimals shown in that reading)."""
    readings = [(value, decimals)]
    # "14.1%" may mean 0.141; "0.141" may stand for 14.1 %.
    readings.append((value / 100.0, decimals + 2))
    if not is_pct:
        readings.append((value * 100.0, max(decimals - 2, 0)))
    return readings


def rounded_match(gold: float, value: float, decimals: int) -> bool:
    """The reply is the gold rounded to its shown decimals, keeping >= 2 significant digits."""
    if value == 0 or abs(value) * 10**decimals < 10 - 1e-9:
        return False
    step = 10.0**-decimals
    return abs(gold - value) <= step / 2 + 1e-9 * max(1.0, abs(gold))


def number_matches(gold: float, reply: str, rel_tol: float = 1e-3) -> tuple[bool, str]:
    """Whether the answer in `reply` matches `gold`; also what number was read."""
    answer, is_marked = marked_answer(reply)
    numbers = find_numbers(answer) or find_numbers(reply)
    if not numbers:
        return False, answer
    # A marked answer line states its number first ("Answer: 94 (5829 - 5735)"); in an unmarked
    # reply the conclusion comes last.
    value, is_pct = numbers[0] if is_marked and find_numbers(answer) else numbers[-1]
    decimals = _shown_decimals(answer, value)
    for reading, shown in candidates(value, is_pct, decimals):
        if close(reading, gold, rel_tol=rel_tol, abs_tol=1e-9) or rounded_match(
            gold, reading, shown
        ):
            return True, f"{value:g}{'%' if is_pct else ''}"
    return False, f"{value:g}{'%' if is_pct else ''}"


def _shown_decimals(answer: str, value: float) -> int:
    for token in answer.replace("(", " ").replace(")", " ").split():
        parsed = parse_number(token)
        if parsed is not None and math.isclose(abs(parsed), abs(value)):
            return decimals_of(token)
    return 0


def yes_no_matches(gold: str, reply: str) -> tuple[bool, str]:
    answer = final_answer(reply).lower()
    words = [w.strip(".,!*\"'") for w in answer.split()]
    said = [w for w in words if w in YES_NO]
    if not said:
        words = [w.strip(".,!*\"'") for w in reply.lower().split()]
        said = [w for w in words if w in YES_NO]
    picked = said[0] if said else ""
    return picked == gold.lower(), picked


def score_number(gold_value: float | None, gold: str, reply: str, method: str) -> Score:
    if gold.lower() in YES_NO:
        correct, extracted = yes_no_matches(gold, reply)
    elif gold_value is None:
        return Score(False, 0.0, method, "", {"error": "the gold answer is not a number"})
    else:
        correct, extracted = number_matches(gold_value, reply)
    return Score(correct, float(correct), method, extracted)

"""Numeric answer matching with the conventions financial benchmarks use.

A reply matches a gold number when, after trying the percent <-> decimal readings (14.1% vs
0.141), it is within a relative tolerance, or it is the gold number rounded to the decimals the
reply shows (gold 0.14136, reply "14.1%") with at least two significant digits kept.
"""

from __future__ import annotations

import math
import re

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
    decimals = _decimals_written(answer, value)
    for reading, shown in candidates(value, is_pct, decimals):
        if close(reading, gold, rel_tol=rel_tol, abs_tol=1e-9) or rounded_match(
            gold, reading, shown
        ):
            return True, f"{value:g}{'%' if is_pct else ''}"
    return False, f"{value:g}{'%' if is_pct else ''}"


_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_NUMBER_TOKEN = re.compile(r"-?\d[\d,]*\.?\d*")


def contains_matching_number(
    gold: float, reply: str, rel_tol: float = 1e-3, sign_free: bool = False
) -> tuple[bool, str]:
    """Whether any number written in `reply` is the gold (same readings and rounding rule as
    `number_matches`); dates are not numbers here. For replies that are several lines of tool
    output (an agent quoting its tools), where "the last number" is an input, not the answer."""
    # Tools write negatives with a minus sign, so "(8.06%)" is a parenthesis, not -8.06.
    text = re.sub(r"[()]", " ", _ISO_DATE.sub(" ", reply))
    targets = (gold, -gold) if sign_free else (gold,)
    for value, is_pct in find_numbers(text):
        decimals = _decimals_written(text, value)
        for reading, digits in candidates(value, is_pct, decimals):
            for target in targets:
                if close(reading, target, rel_tol=rel_tol, abs_tol=1e-9) or rounded_match(
                    target, reading, digits
                ):
                    return True, f"{value:g}{'%' if is_pct else ''}"
    return False, ""


def _decimals_written(text: str, value: float) -> int:
    """Decimals of the first token in `text` that spells `value` (commas and signs allowed)."""
    for token in _NUMBER_TOKEN.findall(text):
        parsed = parse_number(token)
        if parsed is not None and math.isclose(abs(parsed), abs(value), rel_tol=0, abs_tol=1e-12):
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

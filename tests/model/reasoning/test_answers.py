from __future__ import annotations

import pytest

from model.reasoning.answers import extract_answer, last_boxed, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the final answer is: $\\boxed{72}$. I hope it is correct.", "72"),
        ("earlier \\boxed{1}, finally \\boxed{\\frac{3}{4}}", "0.75"),
        ("Natalia sold 72 clips.\n#### 72", "72"),
        ("The answer is $1,200.50 in total.", "1200.5"),
        ("Therefore, the answer is 45%.", "45"),
        ("First 10, then 20, finally 30 apples", "30"),
        ("72.0 clips", "72"),
        ("no numbers here", None),
        ("\\boxed{x + 1}", "x + 1"),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_boxed_with_nested_braces_and_unbalanced_box():
    assert last_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert last_boxed("\\boxed{12") is None


def test_the_same_value_written_two_ways_normalises_the_same():
    assert normalize_answer("$1,000") == normalize_answer("1000.00") == "1000"
    assert normalize_answer("-0.50") == "-0.5"
    assert normalize_answer("\\text{72 clips}.") == "72 clips"


def test_a_runaway_number_is_an_answer_not_an_error():
    # A weak model that loops on one digit writes numbers past Decimal's 28-digit default
    # context; rounding them used to raise decimal.InvalidOperation and stop a whole benchmark.
    runaway = "1" * 40
    assert extract_answer(f"so she has {runaway}") == runaway
    assert extract_answer(f"The answer is {'9' * 35}.25") == "9" * 35 + ".25"
    assert extract_answer(f"\\boxed{{{'2' * 30}.5000000001}}") == "2" * 30 + ".5"

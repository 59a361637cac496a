from __future__ import annotations

import pytest

from model.reasoning.arithmetic import evaluate, find_equations
from model.reasoning.prm import CompositePRM, ProcessRewardModel, Solution
from model.reasoning.verifier_prm import VerifierPRM

QUESTION = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.", [("48/2", "24", True)]),
        ("48 clips + 24 clips = 72 clips", [("48 + 24", "72", True)]),
        ("Weng earned 0.2 x 50 = $10.", [("0.2*50", "10", True)]),
        ("\\frac{48}{2} = 25", [("((48)/(2))", "25", False)]),
        ("100/3 = 33.33, not 33.4", [("100/3", "33.33", True)]),
        ("15% of 200 = 30", [("(15/100)*200", "30", True)]),
        ("$1,200 \\times 3 = $3,600.", [("1200 * 3", "3600", True)]),
        (
            "(48 + 96) / 2 = 132 / 2 = 64.",
            [("(48 + 96) / 2", "132 / 2", False), ("132 / 2", "64", False)],
        ),
        ("0.1 + 0.2 = 0.3", [("0.1 + 0.2", "0.3", True)]),
        ("Step 1: she has 72 clips = 72 clips", []),
    ],
)
def test_find_equations_recomputes_what_the_step_wrote(text, expected):
    found = [(eq.left, eq.right, eq.is_correct) for eq in find_equations(text)]
    assert found == expected


def test_evaluate_refuses_anything_but_arithmetic():
    assert evaluate("2 * (3 + 4)") == 14.0
    assert evaluate("__import__('os')") is None
    assert evaluate("1/0") is None
    assert evaluate("9**9999") is None
    assert evaluate("(2 * (3 + 4)") is None and evaluate("2 * 3) + (4") is None
    assert find_equations("so (48 / (2 = 24 and ((3 = 3") == []  # a model's unbalanced text
    # A model's stray full stops: sympy would read "3 . 2" as an attribute of Integer(3).
    assert evaluate("3 . 2") is None and evaluate("3..2") is None
    assert evaluate("5*()") is None  # parses to a tuple, not a number
    assert find_equations("So 3 . 2 = 6 and 4 . 5 + 1 = 6") == []


def test_a_correct_solution_scores_high_and_a_wrong_equation_low():
    prm = VerifierPRM()
    good = ("## Step 1: In May she sold 48 / 2 = 24 clips.", "## Step 2: 48 + 24 = 72 clips.")
    bad = ("## Step 1: In May she sold 48 * 2 = 96 clips.", "## Step 2: 96 * 2 = 184 clips.")
    (good_scores, bad_scores) = prm.score([Solution(QUESTION, good), Solution(QUESTION, bad)])
    assert good_scores == pytest.approx([0.9, 0.9])
    # 48 * 2 = 96 is right arithmetic (the verifier cannot know "half" meant /2); 96 * 2 is not.
    assert bad_scores == pytest.approx([0.9, 0.9 * 0.15])


def test_an_invented_number_is_penalised_once_and_a_derived_one_is_not():
    prm = VerifierPRM()
    invented = prm.check(Solution(QUESTION, ("She sold 50 clips, 50 in all.",)))[0]
    assert invented.ungrounded == ("50",) and invented.score == pytest.approx(0.7 * 0.6)
    # 24 is 48 halved ("half" in the question); 72 is 48 + 24 once step 1 has stated 24.
    derived = prm.check(
        Solution(QUESTION, ("In May she sold 24 clips.", "So 72 clips altogether."))
    )
    assert [c.ungrounded for c in derived] == [(), ()]
    assert [c.score for c in derived] == pytest.approx([0.7, 0.7])
    # Without step 1, 72 is two operations away from the question: unexplained.
    assert prm.check(Solution(QUESTION, ("So 72 clips altogether.",)))[0].ungrounded == ("72",)


def test_numbers_are_checked_against_the_context_of_tool_results():
    prm = VerifierPRM()
    step = ("AAPL closed at 187.44 and SPY at 475.31.",)
    with_context = Solution(
        "Compare the closes.", step, context="get_price: AAPL 187.44, SPY 475.31"
    )
    without = Solution("Compare the closes.", step)
    assert prm.score([with_context, without]) == [
        [pytest.approx(0.7)],
        [pytest.approx(0.7 * 0.6**2)],
    ]


def test_step_header_numbers_are_not_checked():
    check = VerifierPRM().check(Solution("What is 7 * 8?", ("## Step 37: 7 * 8 = 56",)))[0]
    assert check.ungrounded == () and check.score == pytest.approx(0.9)


def test_composite_prm_is_the_normalised_weighted_mean():
    verifier = VerifierPRM()
    strict = VerifierPRM()
    strict.weights = type(strict.weights)(without_equation=0.5, per_ungrounded_number=0.1)
    composite = CompositePRM([(verifier, 3.0), (strict, 1.0)])
    assert isinstance(composite, ProcessRewardModel)
    solution = Solution("What is 7 * 8?", ("It is 56.", "Maybe 57."))
    expected = [
        0.75 * a + 0.25 * b
        for a, b in zip(verifier.score([solution])[0], strict.score([solution])[0], strict=True)
    ]
    assert composite.score([solution])[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least one"):
        CompositePRM([])


def test_a_step_with_numbers_past_float_range_scores_instead_of_raising():
    assert evaluate("9" * 400 + " * 2") is None  # past float range: not checkable
    runaway = "7" * 400
    step = f"## Step 1: She has {runaway} * 2 = {runaway} clips."
    (scores,) = VerifierPRM().score([Solution(QUESTION, (step,))])
    assert len(scores) == 1 and 0.0 <= scores[0] <= 1.0

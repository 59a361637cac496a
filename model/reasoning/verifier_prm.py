"""A PRM that needs no model: recompute each step's arithmetic and check where its numbers came from.

For each step it finds the equations written ("48 / 2 = 24") and recomputes them with sympy, and it
checks every other number the step uses against what the step may rely on: the question, the
context (tool results already in the conversation, a filing table), earlier steps, the results
of this step's own equations, a few everyday constants, and anything one operation on those gives
(a step may say "so 72 clips" without writing 48 + 24). A wrong equation is strong evidence of a
bad step; an unexplained number is weaker evidence. The score maps both to a probability-like
number so a threshold p means the same kind of thing as for a learned PRM.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from model.reasoning.arithmetic import Equation, decimals, find_equations, numbers_in
from model.reasoning.prm import Solution

# Numbers any step may use without a source: small counts, units of time and of percent.
_CONSTANTS = (*range(11), 12, 24, 30, 31, 52, 60, 100, 365, 1000, 0.5, 0.25)
_WORD_NUMBERS = {
    "half": (2, 0.5), "twice": (2,), "double": (2,), "triple": (3,), "quarter": (4, 0.25),
    "dozen": (12,), "eleven": (11,), "twelve": (12,), "thirteen": (13,), "fourteen": (14,),
    "fifteen": (15,), "sixteen": (16,), "seventeen": (17,), "eighteen": (18,),
    "nineteen": (19,), "twenty": (20,), "thirty": (30,), "forty": (40,), "fifty": (50,),
    "hundred": (100,), "thousand": (1000,), "million": (1e6,), "billion": (1e9,),
}  # fmt: skip
_STEP_HEADER_NUMBER = re.compile(r"Step\s+\d+", re.I)
_MAX_DERIVABLE_SOURCES = 60  # pairs grow quadratically; beyond this only direct matches count


@dataclass(frozen=True)
class VerifierWeights:
    """How findings become a score: base, times a factor per wrong equation and unexplained number."""

    with_checked_equation: float = 0.9
    without_equation: float = 0.7
    per_wrong_equation: float = 0.15
    per_ungrounded_number: float = 0.6

    def __post_init__(self) -> None:
        values = (self.with_checked_equation, self.without_equation)
        factors = (self.per_wrong_equation, self.per_ungrounded_number)
        if not all(0.0 <= v <= 1.0 for v in (*values, *factors)):
            raise ValueError("verifier weights must be between 0 and 1")


@dataclass(frozen=True)
class StepCheck:
    """What the verifier found in one step, and the score it gave."""

    equations: tuple[Equation, ...] = ()
    ungrounded: tuple[str, ...] = ()
    score: float = 0.0

    @property
    def wrong_equations(self) -> tuple[Equation, ...]:
        return tuple(eq for eq in self.equations if not eq.is_correct)


@dataclass
class VerifierPRM:
    """Arithmetic and grounding checks as a ProcessRewardModel (sympy, no model)."""

    weights: VerifierWeights = field(default_factory=VerifierWeights)

    @property
    def name(self) -> str:
        return "verifier"

    def score(self, solutions: Sequence[Solution]) -> list[list[float]]:
        return [[check.score for check in self.check(solution)] for solution in solutions]

    def check(self, solution: Solution) -> list[StepCheck]:
        """Per-step findings; each step may rely on everything before it."""
        known = _Known()
        known.add_text(solution.question)
        known.add_text(solution.context)
        checks = []
        for step in solution.steps:
            checks.append(self.check_step(step, known))
            known.add_text(step)
        return checks

    def check_step(self, step: str, known: _Known) -> StepCheck:
        text = _STEP_HEADER_NUMBER.sub(" ", step)
        equations = tuple(find_equations(text))
        results = _Known(parent=known)
        for equation in equations:
            results.add_value(equation.right_value)
            results.add_value(equation.left_value)
        unexplained = {
            abs(value): written
            for written, value in numbers_in(text)
            if not results.explains(abs(value), decimals(written))
        }  # one penalty per value, however often the step repeats it
        ungrounded = tuple(unexplained.values())
        weights = self.weights
        base = weights.with_checked_equation if equations else weights.without_equation
        num_wrong = sum(1 for eq in equations if not eq.is_correct)
        score = (
            base
            * weights.per_wrong_equation**num_wrong
            * weights.per_ungrounded_number ** len(ungrounded)
        )
        return StepCheck(equations=equations, ungrounded=ungrounded, score=score)


class _Known:
    """Numbers a step may use: given ones, plus anything one operation on them gives.

    Everyday constants count as given, and may scale a given number (x2, /12), but they may not
    be added to one: otherwise every number within 10 of a known one would count as explained.
    """

    def __init__(self, parent: _Known | None = None) -> None:
        self.parent = parent
        self.values: list[float] = []
        self.word_values: list[float] = []  # "half", "dozen": may scale a number, not be added

    def add_text(self, text: str) -> None:
        for _, value in numbers_in(text):
            self.add_value(abs(value))
        lowered = text.lower()
        for word, values in _WORD_NUMBERS.items():
            if re.search(rf"\b{word}\b", lowered):
                self.word_values.extend(float(v) for v in values)

    def add_value(self, value: float) -> None:
        if all(abs(value - v) > 1e-12 for v in self.values):
            self.values.append(value)

    def all_values(self) -> list[float]:
        return self.values + (self.parent.all_values() if self.parent else [])

    def all_word_values(self) -> list[float]:
        return self.word_values + (self.parent.all_word_values() if self.parent else [])

    def explains(self, value: float, places: int) -> bool:
        """`value` (written with `places` decimals) is a known number or one operation away."""
        tolerance = 0.5 * 10.0**-places * 1.0001 if places else 1e-9 * max(1.0, value)
        given = [v for v in self.all_values() if v != 0][-_MAX_DERIVABLE_SOURCES:]
        scales = (*_SCALES, *(v for v in self.all_word_values() if v not in (0, 1)))
        if any(abs(value - v) <= tolerance for v in (*given, *_CONSTANTS, *scales)):
            return True
        return any(abs(value - r) <= tolerance for r in _one_operation(given, scales))


def _one_operation(given: list[float], scales: Sequence[float]) -> Iterable[float]:
    for a, b in itertools.combinations_with_replacement(given, 2):
        yield a + b
        yield abs(a - b)
        yield a * b
        yield a / b
        yield b / a
        yield a * b / 100  # "15% of 200"
        yield abs(a - b) / min(a, b) * 100  # a percent change
    for a in given:
        for c in scales:
            yield a * c
            yield a / c


_SCALES = tuple(float(c) for c in _CONSTANTS if c not in (0, 1))

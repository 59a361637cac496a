"""Arithmetic in prose: find the equations a step writes and recompute them with sympy.

A model writes "0.2 x 50 = $10", "48 clips + 24 clips = 72 clips", "\\frac{48}{2} = 24" or
GSM8K's "<<48/2=24>>". `find_equations` normalises such text into plain expressions
("0.2*50", "10"), and `Equation.is_correct` evaluates both sides exactly (sympy rationals) and
compares them at the precision the model wrote: "100/3 = 33.33" is right, "100/3 = 33.5" is not.
Only digits, operators and parentheses ever reach sympy's parser, so no text is executed.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from tokenize import TokenError

import sympy
from sympy.parsing.sympy_parser import parse_expr

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_FRAC = re.compile(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}")
_TIMES_X = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])")
# A unit word between a number and an operator: "48 clips + 24" -> "48 + 24".
_UNIT_WORD = re.compile(r"(?<=\d)\s+[A-Za-z]+(?:\s+[A-Za-z]+)?(?=\s*(?:[-+*/=]))")
_PER_UNIT = re.compile(r"(?<=\d)\s*/\s*[A-Za-z]+\b(?!\s*\()")  # "2 clips/clip" -> "2"
_PERCENT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*%\s*of\s*")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_MATH_RUN = re.compile(r"[\d.()+\-*/=\s]+")
_OPERATOR_BETWEEN = re.compile(r"[\d)]\s*(?:\*\*|[-+*/])\s*[\d(-]")
_VALID_EXPRESSION = re.compile(r"[\d.()+\-*/\s]+")


@dataclass(frozen=True)
class Equation:
    """`left = right` as the step wrote it (normalised), with both sides' exact values."""

    left: str
    right: str
    left_value: float
    right_value: float
    tolerance: float

    @property
    def is_correct(self) -> bool:
        return abs(self.left_value - self.right_value) <= self.tolerance

    def __str__(self) -> str:
        return f"{self.left} = {self.right}"


def normalize_math(text: str) -> str:
    """Prose and LaTeX arithmetic -> plain operators, numbers without $ or thousands commas."""
    text = _FRAC.sub(r"((\1)/(\2))", text)
    for old, new in (
        ("\\times", "*"),
        ("\\cdot", "*"),
        ("\\div", "/"),
        ("×", "*"),
        ("·", "*"),
        ("÷", "/"),
        ("−", "-"),
        ("^", "**"),
        ("\\$", ""),
        ("$", ""),
        ("\\%", "%"),
        ("<<", "; "),  # GSM8K's calculator annotations <<48/2=24>> stand on their own
        (">>", "; "),
        ("\\(", " "),
        ("\\)", " "),
        ("\\[", " "),
        ("\\]", " "),
        ("\\left", ""),
        ("\\right", ""),
        ("\\boxed", ""),
        ("{", "("),
        ("}", ")"),
    ):
        text = text.replace(old, new)
    text = _THOUSANDS.sub("", text)
    text = _TIMES_X.sub("*", text)
    text = _UNIT_WORD.sub("", text)
    text = _PER_UNIT.sub("", text)
    text = _PERCENT_OF.sub(r"(\1/100)*", text)
    return _PERCENT.sub(r"(\1/100)", text)


def find_equations(text: str) -> list[Equation]:
    """Every `expression = value` (and chain `a = b = c`) in `text` that computes something."""
    equations: list[Equation] = []
    for run in _MATH_RUN.findall(normalize_math(text)):
        if "=" not in run:
            continue
        parts = [_trim(part) for part in run.split("=")]
        for left, right in itertools.pairwise(parts):
            if not left or not right or left == right:
                continue
            if not (_OPERATOR_BETWEEN.search(left) or _OPERATOR_BETWEEN.search(right)):
                continue  # "72 = 72" or a bare restatement: nothing computed
            left_value, right_value = evaluate(left), evaluate(right)
            if left_value is None or right_value is None:
                continue
            tolerance = _tolerance(left, right, left_value, right_value)
            equations.append(Equation(left, right, left_value, right_value, tolerance))
    return equations


def _trim(part: str) -> str:
    """Strip whitespace, dangling operators and unbalanced parentheses from a run's piece."""
    part = part.strip().strip("+*/").strip()
    while part.startswith(")") or (part.count("(") > part.count(")") and part.startswith("(")):
        part = part[1:].strip()
    while part.endswith("(") or (part.count(")") > part.count("(") and part.endswith(")")):
        part = part[:-1].strip()
    part = part.rstrip(".").strip()  # the sentence's full stop after the result
    return part if re.search(r"\d", part) else ""


@lru_cache(maxsize=4096)
def evaluate(expression: str) -> float | None:
    """The exact value of a digits-and-operators expression, or None if it is not one."""
    if not _VALID_EXPRESSION.fullmatch(expression) or not _is_balanced(expression):
        return None
    if re.search(r"\*\*\s*\(?\s*\d{3,}", expression):
        return None  # a huge power would hang sympy; nobody's step needs one
    try:
        with warnings.catch_warnings():  # "3 (4)" warns that a tuple is not callable
            warnings.simplefilter("ignore", SyntaxWarning)
            value = parse_expr(_exact(expression), evaluate=True)
    except (
        SyntaxError,
        TypeError,
        ValueError,
        ZeroDivisionError,
        AttributeError,  # "3 . 2" parses as an attribute of Integer(3)
        sympy.SympifyError,
        TokenError,
    ):
        return None
    if not isinstance(value, sympy.Expr):
        return None  # "5*()" parses to a tuple
    if not value.is_number or value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None  # past float range: not checkable


def _is_balanced(expression: str) -> bool:
    depth = 0
    for char in expression:
        depth += (char == "(") - (char == ")")
        if depth < 0:
            return False
    return depth == 0


def _exact(expression: str) -> str:
    # Decimals as rationals ("0.2" -> "(2/10)") so 0.1 + 0.2 = 0.3 compares exactly.
    def rational(match: re.Match[str]) -> str:
        whole, _, frac = match.group().partition(".")
        if not frac:
            return str(int(whole))  # "007" is a syntax error in Python
        return f"({int(whole + frac)}/1{'0' * len(frac)})"

    return re.sub(r"\d+(?:\.\d+)?", rational, expression)


def decimals(number_text: str) -> int:
    """Digits after the decimal point as written ("33.33" -> 2)."""
    _, _, frac = number_text.strip().partition(".")
    return len(frac) if frac.isdigit() else 0


def _tolerance(left: str, right: str, left_value: float, right_value: float) -> float:
    """Rounding the model may do: half a unit in the last place of a side that is a bare number."""
    relative = 1e-9 * max(1.0, abs(left_value), abs(right_value))
    bare = [side for side in (right, left) if NUMBER.fullmatch(side.strip())]
    if not bare:
        return relative
    places = decimals(bare[0])
    return max(relative, 0.5 * 10.0**-places * 1.0001) if places else max(relative, 0.5)


def numbers_in(text: str) -> list[tuple[str, float]]:
    """Every number written in `text` ($, thousands commas and % removed), as (text, value)."""
    cleaned = _THOUSANDS.sub("", text.replace("$", " ").replace("%", " "))
    return [(m.group(), float(m.group())) for m in NUMBER.finditer(cleaned)]

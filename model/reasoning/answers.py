"""Final answers: pull the answer out of a solution and put it in a form votes can compare.

Order of preference, as in the reference code's parser and GSM8K's own format: the last
`\\boxed{...}`, then "#### X", then "the (final) answer is X", then the last number in the text.
Numbers are normalised ("$1,200.50" -> "1200.5", "72.0" -> "72", "45%" -> "45") so that the
same value written two ways gets one vote.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_HASHES = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*([^\n]+)", re.I)
_FRAC = re.compile(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}")


def extract_answer(text: str) -> str | None:
    """The solution's final answer, normalised; None when it states none."""
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return normalize_answer(boxed)
    for pattern in (_HASHES, _ANSWER_IS):
        matches = pattern.findall(text)
        if matches:
            found = _first_number(matches[-1])
            if found is not None:
                return found
    numbers = _NUMBER.findall(text)
    return _canonical_number(numbers[-1]) if numbers else None


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None if there is none."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None  # unbalanced: the model ran out of tokens inside the box


def normalize_answer(answer: str) -> str:
    """A canonical string for voting: a plain number when the answer is one, else tidied text."""
    text = _FRAC.sub(r"(\1)/(\2)", answer)
    text = text.replace("\\$", "").replace("$", "").replace("\\%", "%").replace("\\!", "")
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text).strip().rstrip(".").strip()
    plain = text.replace(",", "").replace("%", "").strip()
    if _NUMBER.fullmatch(plain):
        return _canonical_number(plain)
    fraction = re.fullmatch(r"\(?(-?\d+)\)?/\(?(\d+)\)?", plain)
    if fraction and int(fraction.group(2)) != 0:
        return _canonical_number(str(Decimal(fraction.group(1)) / Decimal(fraction.group(2))))
    return re.sub(r"\s+", " ", text)


def _first_number(text: str) -> str | None:
    boxed = last_boxed(text)
    if boxed is not None:
        return normalize_answer(boxed)
    match = _NUMBER.search(text.replace("$", ""))
    return _canonical_number(match.group()) if match else None


def _canonical_number(number: str) -> str:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return number
    with localcontext() as context:
        # A weak model can loop on digits ("11111..." x 40); the default 28-digit context
        # cannot round such a number to 6 places and would raise instead of voting on it.
        context.prec = max(context.prec, len(number) + 8)
        value = round(value, 6)
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")

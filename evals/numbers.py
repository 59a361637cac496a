"""Reading numbers out of answers the way financial benchmarks write them.

"$1,496.5", "(32)", "-4.4%", "1.2 million", "3/4", "\\$18." all have to become numbers before any
scorer can compare them; these helpers are shared by the loaders and the scorers.
"""

from __future__ import annotations

import math
import re

SCALES = {"": 1.0, "thousand": 1e3, "million": 1e6, "billion": 1e9, "percent": 1.0}
# A number as written in text: optional sign or parenthesis, thousands separators, decimals.
NUMBER_RE = re.compile(
    r"(?<![\w.])[-−–]?\(?\$?\s?[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?%)?\)?|"
    r"(?<![\w.])[-−]?\.\d+(?:\s?%)?"
)
WORD_SCALES = {
    "thousand": 1e3,
    "thousands": 1e3,
    "k": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
}


def parse_number(text: str | float | int | None) -> float | None:
    """The one number `text` is, or None: '$1,496.5' -> 1496.5, '(32)' -> -32, '14%' -> 14.0.

    A percent sign is dropped (the caller decides whether 14% means 14 or 0.14); see
    `is_percent`. Text holding anything but one number gives None.
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if math.isfinite(float(text)) else None
    cleaned = text.strip().replace("−", "-").replace("–", "-").replace(",", "")
    cleaned = cleaned.replace("$", "").replace("%", "").replace(" ", "").rstrip(".")
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    if negative:
        cleaned = cleaned[1:-1]
    if re.fullmatch(r"[-+]?\d+/\d+", cleaned):
        numerator, denominator = cleaned.split("/")
        return None if float(denominator) == 0 else float(numerator) / float(denominator)
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return -value if negative else value


def is_percent(text: str) -> bool:
    return "%" in text or "percent" in text.lower()


def find_numbers(text: str) -> list[tuple[float, bool]]:
    """Every number in free text, in order, with whether a % follows it."""
    found = []
    for match in NUMBER_RE.finditer(text.replace("−", "-")):
        raw = match.group(0)
        value = parse_number(raw)
        if value is None:
            continue
        after = text[match.end() : match.end() + 9].lower()
        found.append((value, raw.rstrip(")").endswith("%") or after.lstrip().startswith("percent")))
    return found


def last_number(text: str) -> tuple[float, bool] | None:
    """The last number in `text` (and whether it is a percentage), or None."""
    numbers = find_numbers(text)
    return numbers[-1] if numbers else None


def with_word_scale(text: str) -> float | None:
    """A number followed by a scale word: '1.2 million' -> 1.2e6, '$3.4bn' -> 3.4e9."""
    match = re.search(
        r"([-−]?\$?\s?\d[\d,]*(?:\.\d+)?)\s*(trillion|billions?|millions?|thousands?|bn|mn|[kmb])\b",
        text,
        re.IGNORECASE,
    )
    if not match:
        return None
    value = parse_number(match.group(1))
    return None if value is None else value * WORD_SCALES[match.group(2).lower()]


def decimals_of(text: str) -> int:
    """How many decimals a written number shows: '14.10%' -> 2, '94' -> 0."""
    match = re.search(r"\.(\d+)", text.replace(",", ""))
    return len(match.group(1)) if match else 0


def close(a: float, b: float, rel_tol: float = 1e-4, abs_tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)

"""Checking an answer's numbers against what the tools actually returned.

Every number in a final answer must appear in the episode's tool results (or the question), or be
derivable from one by rounding, by a percent/decimal switch (0.2389 -> 23.89%) or by a
thousand/million/billion scale (1,234,000,000 -> 1.23 billion). Anything else is flagged: invented
numbers are what users of financial agents complain about most, so one never passes silently.
Dates are compared as dates, and small counting numbers (0-10) are not checked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_DATE_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# A number: optional sign, digits with thousands separators, optional decimals.
_NUMBER_RE = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?")
_SCALES = (1.0, 100.0, 0.01, 1e-3, 1e-6, 1e-9, 1e-12)
_TRIVIAL = 10  # counting numbers up to this are not worth a flag ("3 tools", "2 tickers")


@dataclass(frozen=True)
class GroundingReport:
    supported: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def is_grounded(self) -> bool:
        return not self.unsupported

    def to_dict(self) -> dict[str, list[str]]:
        return {"supported": self.supported, "unsupported": self.unsupported}


def extract_numbers(text: str) -> list[str]:
    """The numbers written in `text`, as written (dates removed)."""
    return _NUMBER_RE.findall(_DATE_RE.sub(" ", text))


def _value(token: str) -> float:
    return float(token.replace(",", ""))


def _decimals(token: str) -> int:
    return len(token.split(".", 1)[1]) if "." in token else 0


def is_derivable(token: str, sources: Iterable[float]) -> bool:
    """Whether `token` equals some source number after scaling and rounding to its own digits."""
    value = _value(token)
    tolerance = 0.5 * 10 ** -_decimals(token) + 1e-9
    for source in sources:
        for scale in _SCALES:
            scaled = source * scale
            if (
                math.isclose(abs(scaled), abs(value), rel_tol=1e-9)
                or abs(abs(scaled) - abs(value)) <= tolerance
            ):
                return True
    return False


def check_grounding(answer: str, evidence: Iterable[str]) -> GroundingReport:
    """Which numbers of `answer` the evidence texts (tool results, the question) support."""
    texts = list(evidence)
    dates = {d for text in texts for d in _DATE_RE.findall(text)}
    sources = [_value(token) for text in texts for token in extract_numbers(text)]
    supported, unsupported = [], []
    for date in _DATE_RE.findall(answer):
        (supported if date in dates else unsupported).append(date)
    for token in extract_numbers(answer):
        value = _value(token)
        if value.is_integer() and 0 <= value <= _TRIVIAL:
            continue
        if value.is_integer() and 1900 <= value <= 2100 and "." not in token:
            continue  # a year; the dates it stands for were checked above when written out
        (supported if is_derivable(token, sources) else unsupported).append(token)
    return GroundingReport(supported, unsupported)


_TABLE_ROW_RE = re.compile(r"^[^\s,]+(?:,[^\s,]*){3,}$")  # a CSV row or header of a tool's table


def quote_tool_results(results: Iterable[str]) -> str:
    """An answer made only of what the tools said: each result's lines without its data table,
    and one source line per distinct source. Every number in it is grounded by construction."""
    lines: list[str] = []
    sources: list[str] = []
    for text in results:
        for line in text.splitlines():
            line = line.strip()
            if not line or _TABLE_ROW_RE.match(line) or line.startswith("date,"):
                continue
            target = sources if line.startswith("source:") else lines
            if line not in target:
                target.append(line)
    return "\n".join([*lines, *sources])


def flag_unsupported(answer: str, report: GroundingReport) -> str:
    """The answer with a visible warning naming every number no tool result supports."""
    if report.is_grounded:
        return answer
    listed = ", ".join(dict.fromkeys(report.unsupported))
    return (
        f"{answer.rstrip()}\n\n[unverified: {listed} - not found in any tool result of this "
        "answer; do not rely on these numbers]"
    )

"""What every scorer returns, and how a final answer is cut out of a model's reply."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# "Answer: ...", "The final answer is ...", "#### ..." — the last one in the reply wins.
ANSWER_MARKER = re.compile(r"(?:final answer|answer)\s*(?:is|:|=)\s*:?\s*|####\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Score:
    """One example's score. `correct` decides accuracy; `value` is the metric in [0, 1] (F1 for
    TAT-QA, 0/1 elsewhere); `method` names how it was decided (an LLM judge says so here)."""

    correct: bool
    value: float
    method: str
    extracted: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_judged(self) -> bool:
        return self.method.startswith("llm-judge")


def final_answer(reply: str) -> str:
    """The part of a reply that states the answer: the text after the last answer marker (to
    the end of its line), else a \\boxed{} value, else the last non-empty line."""
    return marked_answer(reply)[0]


def marked_answer(reply: str) -> tuple[str, bool]:
    """`final_answer`, and whether the reply marked it (a marker or \\boxed{}) or it is a guess."""
    text = reply.strip()
    markers = list(ANSWER_MARKER.finditer(text))
    if markers:
        rest = text[markers[-1].end() :].strip()
        line = rest.splitlines()[0].strip() if rest else ""
        if line:
            return line.strip(" *"), True
    boxed = boxed_content(text)
    if boxed is not None:
        return boxed, True
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # A trailing "source: ..." line cites where the data came from; the answer is above it.
    while len(lines) > 1 and lines[-1].lower().startswith("source:"):
        lines.pop()
    return (lines[-1] if lines else ""), False


def boxed_content(text: str) -> str | None:
    """The content of the last \\boxed{...}, braces balanced, or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, index = 0, start + len("\\boxed")
    for position in range(index, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return text[index + 1 : position]
    return None

"""MATH500 (Lightman et al., 2023): the 500-problem MATH test subset of PRM800K.

Reads the published prm800k `math_splits/test.jsonl` unchanged: {problem, solution, answer,
subject, level, unique_id} a line. Answers are LaTeX, compared symbolically by math-verify.
"""

from __future__ import annotations

from pathlib import Path

from evals.benchmarks.reading import Record, check_file, iter_jsonl
from evals.example import AnswerType, Example
from evals.numbers import parse_number

NAME = "math500"


def load(path: Path, split: str = "test") -> list[Example]:
    path = check_file(path, "MATH500")
    examples = []
    for number, item in iter_jsonl(path):
        record = Record.of(item, f"{path}:{number}")
        answer = str(record.get("answer", (str, int, float)))
        examples.append(
            Example(
                id=record.get("unique_id", str, default=f"{split}-{number}"),
                benchmark=NAME,
                question=record.get("problem", str),
                gold=answer,
                gold_value=parse_number(answer),
                answer_type=AnswerType.EXPRESSION,
                split=split,
                metadata={
                    "subject": record.get("subject", str, default=""),
                    "level": record.get("level", (int, str), default=""),
                    "solution": record.get("solution", str, default=""),
                },
            )
        )
    return examples

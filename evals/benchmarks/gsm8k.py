"""GSM8K (Cobbe et al., 2021): grade-school maths word problems.

Reads the published openai/grade-school-math jsonl unchanged: {"question", "answer"} a line, the
answer a worked solution ending in `#### <number>`.
"""

from __future__ import annotations

from pathlib import Path

from evals.benchmarks.reading import BenchmarkFormatError, Record, check_file, iter_jsonl
from evals.example import AnswerType, Example
from evals.numbers import parse_number

NAME = "gsm8k"


def load(path: Path, split: str = "test") -> list[Example]:
    path = check_file(path, "GSM8K")
    examples = []
    for number, item in iter_jsonl(path):
        record = Record.of(item, f"{path}:{number}")
        solution = record.get("answer", str)
        if "####" not in solution:
            raise BenchmarkFormatError(f"{record.where}: the answer has no '#### <number>' line")
        final = solution.rsplit("####", 1)[1].strip()
        value = parse_number(final)
        if value is None:
            raise BenchmarkFormatError(f"{record.where}: final answer {final!r} is not a number")
        examples.append(
            Example(
                id=f"{split}-{number}",
                benchmark=NAME,
                question=record.get("question", str),
                gold=final.replace(",", ""),
                gold_value=value,
                answer_type=AnswerType.NUMBER,
                split=split,
                metadata={"solution": solution, "line": number},
            )
        )
    return examples

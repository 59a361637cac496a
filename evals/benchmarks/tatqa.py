"""TAT-QA (Zhu et al., 2021): hybrid table + paragraph questions from annual reports.

Reads the published NExTplusplus/TAT-QA files unchanged (tatqa_dataset_{train,dev,test_gold}.json:
a list of {table: {table: [[..]]}, paragraphs: [{order, text}], questions: [{uid, question, answer,
answer_type, answer_from, scale, derivation}]}). The public test file without answers is refused
with a pointer to the gold file.
"""

from __future__ import annotations

from pathlib import Path

from evals.benchmarks.reading import (
    BenchmarkFormatError,
    Record,
    array_records,
    check_file,
    read_json,
)
from evals.example import AnswerType, Example
from evals.numbers import parse_number

NAME = "tatqa"
ANSWER_TYPES = {
    "span": AnswerType.SPAN,
    "multi-span": AnswerType.MULTI_SPAN,
    "arithmetic": AnswerType.NUMBER,
    "count": AnswerType.COUNT,
}


def load(path: Path, split: str = "dev") -> list[Example]:
    path = check_file(path, "TAT-QA")
    examples = []
    for context in array_records(path, read_json(path)):
        table = context.child("table").get("table", list)
        rows = [[str(cell) for cell in row] for row in table]
        paragraphs = sorted(
            (Record.of(p, context.where) for p in context.get("paragraphs", list)),
            key=lambda p: p.get("order", int, default=0),
        )
        text = "\n".join(p.get("text", str) for p in paragraphs)
        for index, item in enumerate(context.get("questions", list)):
            question = Record.of(item, lambda i=index, c=context: f"{c.where} question {i}")
            examples.append(_example(question, rows, text, split))
    return examples


def _example(question: Record, rows: list[list[str]], text: str, split: str) -> Example:
    if "answer" not in question.data:
        raise BenchmarkFormatError(
            f"{question.where}: this question has no gold 'answer' (the public test file); "
            "use tatqa_dataset_test_gold.json or the dev file"
        )
    kind = question.get("answer_type", str)
    if kind not in ANSWER_TYPES:
        raise BenchmarkFormatError(f"{question.where}: unknown answer_type {kind!r}")
    answer = question.get("answer", (list, str, int, float))
    spans = [str(a) for a in answer] if isinstance(answer, list) else [str(answer)]
    if not spans:
        raise BenchmarkFormatError(f"{question.where}: 'answer' is an empty list")
    value = parse_number(answer) if isinstance(answer, int | float) else None
    if value is None and kind in {"arithmetic", "count"}:
        value = parse_number(spans[0])
    return Example(
        id=question.get("uid", str),
        benchmark=NAME,
        question=question.get("question", str),
        context_text=text,
        context_table=rows,
        gold=spans[0] if len(spans) == 1 else "; ".join(spans),
        gold_value=value,
        gold_spans=spans,
        answer_type=ANSWER_TYPES[kind],
        scale=question.get("scale", str, default=""),
        split=split,
        metadata={
            "answer_from": question.get("answer_from", str, default=""),
            "derivation": question.get("derivation", str, default=""),
            "answer_type": kind,
        },
    )

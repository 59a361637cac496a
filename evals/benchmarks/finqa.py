"""FinQA (Chen et al., 2021): questions over one page of an earnings report, with a program.

Reads the published czyssrs/FinQA files unchanged (train/dev/test.json: a list of
{pre_text: [..], post_text: [..], table: [[..]], id, qa: {question, program, exe_ans, answer}}),
and the shorter derived form some mirrors ship ({"data": [{question, context, answer}]}, the
table already flattened into the text; no program).
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
from evals.numbers import is_percent, parse_number

NAME = "finqa"


def load(path: Path, split: str = "test") -> list[Example]:
    path = check_file(path, "FinQA")
    data = read_json(path)
    if isinstance(data, dict) and "data" in data:
        return [
            _derived(record, index, split)
            for index, record in enumerate(array_records(path, data, "data"))
        ]
    return [_original(record, split) for record in array_records(path, data)]


def _original(record: Record, split: str) -> Example:
    qa = record.child("qa")
    table = record.get("table", list)
    rows = [[str(cell) for cell in row] for row in table if isinstance(row, list)]
    if len(rows) != len(table):
        raise BenchmarkFormatError(f"{record.where}: field 'table' should be a list of rows")
    exe_ans = qa.get("exe_ans", (int, float, str))
    answer_text = str(qa.get("answer", (str, int, float), default=""))
    is_boolean = isinstance(exe_ans, str) and exe_ans.lower() in {"yes", "no"}
    if isinstance(exe_ans, str) and not is_boolean:
        value = parse_number(exe_ans)
        if value is None:
            raise BenchmarkFormatError(f"{qa.where}: 'exe_ans' {exe_ans!r} is not a number")
        exe_ans = value
    pre = record.get("pre_text", list)
    post = record.get("post_text", list)
    return Example(
        id=str(record.get("id", str)),
        benchmark=NAME,
        question=qa.get("question", str),
        context_text=" ".join(map(str, pre)) + "\n\n" + " ".join(map(str, post)),
        context_table=rows,
        gold=str(exe_ans).lower() if is_boolean else str(exe_ans),
        gold_value=None if is_boolean else float(exe_ans),
        answer_type=AnswerType.BOOLEAN if is_boolean else AnswerType.NUMBER,
        split=split,
        program=qa.get("program", str, default=None),
        metadata={"answer": answer_text, "filename": record.get("filename", str, default="")},
    )


def _derived(record: Record, index: int, split: str) -> Example:
    answer = str(record.get("answer", (str, int, float)))
    is_boolean = answer.strip().lower() in {"yes", "no"}
    value = None if is_boolean else parse_number(answer)
    return Example(
        id=str(record.get("id", str, default=f"{split}-{index}")),
        benchmark=NAME,
        question=record.get("question", str),
        context_text=record.get("context", str),
        gold=answer.strip().lower() if is_boolean else answer.strip(),
        gold_value=value,
        answer_type=AnswerType.BOOLEAN
        if is_boolean
        else AnswerType.NUMBER
        if value is not None
        else AnswerType.SPAN,
        scale="percent" if value is not None and is_percent(answer) else "",
        split=split,
        metadata={"format": "derived (question, context, answer)"},
    )

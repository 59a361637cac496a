"""ConvFinQA (Chen et al., 2022): conversations of numerical questions over a FinQA page.

Every turn becomes one Example whose `history` holds the earlier turns with their gold answers
(the benchmark's own protocol: the model sees the gold history). Reads:
- the published czyssrs/ConvFinQA conversation files (train/dev.json: FinQA fields plus
  `annotation` {dialogue_break, turn_program, exe_ans_list});
- the published turn files (train_turn/dev_turn.json: `annotation` {cur_dial, exe_ans, cur_program});
- the reformatted take-home version ({"dev": [{id, doc{pre_text, post_text, table},
  dialogue{conv_questions, conv_answers, turn_program, executed_answers}}]});
- the Program-of-Thoughts version (a list of {questions, answer, text, table, id}: only the last
  turn has a gold answer, so one Example per conversation).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from evals.benchmarks.reading import (
    BenchmarkFormatError,
    Record,
    array_records,
    check_file,
    read_json,
)
from evals.example import AnswerType, Example
from evals.numbers import parse_number

NAME = "convfinqa"


def load(path: Path, split: str = "dev") -> list[Example]:
    path = check_file(path, "ConvFinQA")
    data = read_json(path)
    if isinstance(data, dict):
        keys = [key for key in ("train", "dev", "test") if key in data]
        key = split if split in data else (keys[0] if keys else None)
        if key is None:
            raise BenchmarkFormatError(f"{path}:1: expected a list, or an object with a 'dev' list")
        return [ex for record in array_records(path, data, key) for ex in _dialogue(record, key)]
    records = array_records(path, data)
    examples: list[Example] = []
    for record in records:
        if "annotation" in record.data and "cur_dial" in record.data["annotation"]:
            examples.append(_turn(record, split))
        elif "annotation" in record.data:
            examples.extend(_conversation(record, split))
        elif "questions" in record.data:
            examples.append(_pot(record, split))
        else:
            raise BenchmarkFormatError(
                f"{record.where}: not a ConvFinQA item (no 'annotation', 'dialogue' or 'questions')"
            )
    return examples


def _gold(value: Any, where: str) -> tuple[str, float | None, AnswerType]:
    if isinstance(value, str) and value.strip().lower() in {"yes", "no"}:
        return value.strip().lower(), None, AnswerType.BOOLEAN
    number = parse_number(value)
    if number is None:
        raise BenchmarkFormatError(f"{where}: gold answer {value!r} is not a number or yes/no")
    return f"{number:g}" if abs(number) < 1e15 else str(number), number, AnswerType.NUMBER


def _turns(
    record: Record,
    split: str,
    conv_id: str,
    questions: list[str],
    answers: list[Any],
    programs: list[str],
    text: str,
    table: list[list[str]],
) -> list[Example]:
    if len(answers) != len(questions):
        raise BenchmarkFormatError(
            f"{record.where}: {len(questions)} questions but {len(answers)} answers"
        )
    examples, history = [], []
    for index, (question, answer) in enumerate(zip(questions, answers, strict=True)):
        gold, value, kind = _gold(answer, f"{record.where} turn {index}")
        examples.append(
            Example(
                id=f"{conv_id}#{index}",
                benchmark=NAME,
                question=str(question),
                context_text=text,
                context_table=table,
                gold=gold,
                gold_value=value,
                answer_type=kind,
                split=split,
                program=programs[index] if index < len(programs) else None,
                history=list(history),
                metadata={"conversation": conv_id, "turn": index, "num_turns": len(questions)},
            )
        )
        history.append((str(question), gold))
    return examples


def _rows(table: Any, where: str) -> list[list[str]]:
    if isinstance(table, str):  # the take-home version stores a dict's repr: {col: {row: value}}
        try:
            table = ast.literal_eval(table)
        except (ValueError, SyntaxError):
            return [[cell.strip() for cell in line.split("|")] for line in table.splitlines()]
    if isinstance(table, dict):
        columns = list(table)
        row_names = list(dict.fromkeys(name for col in table.values() for name in col))
        rows = [["", *map(str, columns)]]
        for name in row_names:
            rows.append([str(name), *(str(table[col].get(name, "")) for col in columns)])
        return rows
    if isinstance(table, list) and all(isinstance(row, list) for row in table):
        return [[str(cell) for cell in row] for row in table]
    raise BenchmarkFormatError(f"{where}: field 'table' is neither rows nor a column mapping")


def _finqa_text(record: Record) -> str:
    pre = record.get("pre_text", (list, str))
    post = record.get("post_text", (list, str), default="")
    join = lambda part: part if isinstance(part, str) else " ".join(map(str, part))  # noqa: E731
    return join(pre) + "\n\n" + join(post)


def _conversation(record: Record, split: str) -> list[Example]:
    annotation = record.child("annotation")
    return _turns(
        record,
        split,
        str(record.get("id", str)),
        annotation.get("dialogue_break", list),
        annotation.get("exe_ans_list", list),
        annotation.get("turn_program", list, default=[]),
        _finqa_text(record),
        _rows(record.get("table", list), record.where),
    )


def _turn(record: Record, split: str) -> Example:
    annotation = record.child("annotation")
    dialogue = annotation.get("cur_dial", list)
    answers = annotation.get("exe_ans_list", list, default=[])
    *earlier, question = dialogue
    gold, value, kind = _gold(annotation.get("exe_ans", (int, float, str)), annotation.where)
    history = [
        (str(q), _gold(a, annotation.where)[0]) for q, a in zip(earlier, answers, strict=False)
    ]
    return Example(
        id=str(record.get("id", str)),
        benchmark=NAME,
        question=str(question),
        context_text=_finqa_text(record),
        context_table=_rows(record.get("table", list), record.where),
        gold=gold,
        gold_value=value,
        answer_type=kind,
        split=split,
        program=annotation.get("cur_program", str, default=None),
        history=history,
        metadata={"turn": len(earlier)},
    )


def _dialogue(record: Record, split: str) -> list[Example]:
    doc, dialogue = record.child("doc"), record.child("dialogue")
    return _turns(
        record,
        split,
        str(record.get("id", str)),
        dialogue.get("conv_questions", list),
        dialogue.get("executed_answers", list),
        dialogue.get("turn_program", list, default=[]),
        doc.get("pre_text", str) + "\n\n" + doc.get("post_text", str, default=""),
        _rows(doc.get("table", (str, dict, list)), doc.where),
    )


def _pot(record: Record, split: str) -> Example:
    questions = record.get("questions", (list, str))
    if isinstance(questions, str):
        questions = ast.literal_eval(questions)
    gold, value, kind = _gold(record.get("answer", (str, int, float)), record.where)
    *earlier, question = [str(q) for q in questions]
    return Example(
        id=str(record.get("id", str)),
        benchmark=NAME,
        question=question,
        context_text=record.get("text", str),
        context_table=_rows(record.get("table", (str, list)), record.where),
        gold=gold,
        gold_value=value,
        answer_type=kind,
        split=split,
        # Earlier turns have no gold answer in this version: the model sees only their questions.
        history=[(q, "") for q in earlier],
        metadata={"turn": len(earlier), "format": "program-of-thoughts (final turn only)"},
    )

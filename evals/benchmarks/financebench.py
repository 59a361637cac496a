"""FinanceBench (Islam et al., 2023): open-book questions on public companies' filings.

Reads the published patronus-ai/financebench `financebench_open_source.jsonl` unchanged: one JSON
object a line with {financebench_id, company, doc_name, question_type, question, answer,
justification, evidence: [{evidence_text, evidence_page_num, ...}]}. The evidence text is the
context (the PDFs are not shipped). An answer that is one number is scored numerically; the rest
need the LLM judge (see evals/scorers/financebench.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from evals.benchmarks.reading import BenchmarkFormatError, Record, check_file, iter_jsonl
from evals.example import AnswerType, Example
from evals.numbers import find_numbers, is_percent

NAME = "financebench"


def numeric_answer(answer: str) -> float | None:
    """The gold number when the answer is essentially one number ('$1577.00', '65.4%', '0.66')."""
    text = answer.strip()
    # Short answers only: an explanation that contains a number is free text.
    if len(re.sub(r"[\d$,.%()\s\-]|USD|million|billion|usd", "", text, flags=re.I)) > 3:
        return None
    numbers = find_numbers(text)
    return numbers[0][0] if len(numbers) == 1 else None


def load(path: Path, split: str = "test") -> list[Example]:
    path = check_file(path, "FinanceBench")
    examples = []
    for number, item in iter_jsonl(path):
        record = Record.of(item, f"{path}:{number}")
        answer = str(record.get("answer", (str, int, float)))
        evidence = record.get("evidence", list, default=[])
        texts = []
        for piece in evidence:
            if not isinstance(piece, dict) or "evidence_text" not in piece:
                raise BenchmarkFormatError(
                    f"{record.where}: each 'evidence' item needs an 'evidence_text'"
                )
            texts.append(str(piece["evidence_text"]))
        value = numeric_answer(answer)
        examples.append(
            Example(
                id=record.get("financebench_id", str),
                benchmark=NAME,
                question=record.get("question", str),
                context_text="\n\n".join(texts),
                gold=answer,
                gold_value=value,
                answer_type=AnswerType.NUMBER if value is not None else AnswerType.FREE_TEXT,
                scale="percent" if value is not None and is_percent(answer) else "",
                split=split,
                metadata={
                    "company": record.get("company", str, default=""),
                    "doc_name": record.get("doc_name", str, default=""),
                    "question_type": record.get("question_type", str, default=""),
                    "question_reasoning": record.get("question_reasoning", str, default="") or "",
                    "justification": record.get("justification", str, default="") or "",
                },
            )
        )
    return examples

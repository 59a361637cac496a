"""One benchmark item in one shape, whatever file it came from.

Every loader turns its published format into `Example`s; every scorer, solver and report reads
only this model. `context_text` and `context_table` hold what the model is given besides the
question (filing text, a table as rows of cells); `gold` is the reference answer as the benchmark
states it, `gold_value` its number when it has one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class AnswerType(StrEnum):
    NUMBER = "number"  # a single number (FinQA, ConvFinQA, GSM8K, the tool-use suite)
    SPAN = "span"  # one text span (TAT-QA)
    MULTI_SPAN = "multi-span"  # several text spans, order free (TAT-QA)
    COUNT = "count"  # TAT-QA's counting questions
    BOOLEAN = "boolean"  # yes / no (FinQA's greater(), some ConvFinQA turns)
    EXPRESSION = "expression"  # LaTeX to compare symbolically (MATH500)
    FREE_TEXT = "free-text"  # judged by an LLM (FinanceBench's explanations)


class Example(BaseModel):
    """A question, what the model may read to answer it, and the reference answer."""

    id: str
    benchmark: str
    question: str
    context_text: str = ""
    # Rows of cells, header row first; empty when the item has no table.
    context_table: list[list[str]] = Field(default_factory=list)
    gold: str
    gold_value: float | None = None
    # TAT-QA answers can be several spans; the first is `gold`.
    gold_spans: list[str] = Field(default_factory=list)
    answer_type: AnswerType = AnswerType.NUMBER
    # TAT-QA scale of the gold number: "", "thousand", "million", "billion" or "percent".
    scale: str = ""
    split: str = ""
    # The gold reasoning program when the benchmark has one (FinQA DSL, ConvFinQA turn program).
    program: str | None = None
    # Tool names a correct agent is expected to call (the tool-use suite).
    expected_tools: list[str] = Field(default_factory=list)
    # Earlier turns of a conversation as (question, gold answer) pairs (ConvFinQA).
    history: list[tuple[str, str]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def table_text(self) -> str:
        """The table as pipe-separated rows, the form the prompts show."""
        return "\n".join(" | ".join(cell.strip() for cell in row) for row in self.context_table)

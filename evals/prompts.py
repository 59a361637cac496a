"""Prompts of the non-agent modes: `direct` asks for the answer alone, `cot` for step-by-step
reasoning ending in an answer line. Both end with "Answer: ..." so every scorer reads the same
marker; the agent mode gets the question (with its context) as a user would type it. The reason
mode hands the question and its material apart to `model.reasoning.reason()`, whose own step
format ends in a \\boxed{} answer.
"""

from __future__ import annotations

from enum import StrEnum

from evals.example import AnswerType, Example
from model.engine.types import Message


class Mode(StrEnum):
    AGENT = "agent"  # agent.api.Assistant with the financial tools
    DIRECT = "direct"  # one plain model turn, answer only
    COT = "cot"  # one plain model turn, reasoning step by step first
    REASON = "reason"  # model.reasoning.reason() with a method (greedy, sc, bon, weighted, ar)


SYSTEM = "You are a careful financial analyst. Answer from the given material; be exact."
FORMAT_HINTS = {
    AnswerType.NUMBER: "a number (write percentages with %)",
    AnswerType.BOOLEAN: "yes or no",
    AnswerType.EXPRESSION: "a LaTeX expression in \\boxed{}",
    AnswerType.MULTI_SPAN: "the items, separated by semicolons",
    AnswerType.COUNT: "a whole number",
}
MAX_CONTEXT_CHARS = 6000  # the embedded model has a small context window


def material(example: Example, max_chars: int = MAX_CONTEXT_CHARS) -> str:
    """The example's text and table as one block, cut to `max_chars` (cut noted)."""
    parts = []
    if example.context_text.strip():
        parts.append(example.context_text.strip())
    if example.context_table:
        parts.append("Table:\n" + example.table_text())
    text = "\n\n".join(parts)
    if len(text) > max_chars:
        text = text[:max_chars] + "\n[... material cut ...]"
    return text


def question_block(example: Example, with_material: bool = True) -> str:
    lines = []
    block = material(example) if with_material else ""
    if block:
        lines += ["Material:", block, ""]
    if example.history:
        lines.append("Conversation so far:")
        for question, answer in example.history:
            lines.append(f"Q: {question}" + (f"\nA: {answer}" if answer else ""))
        lines.append("")
    lines.append(f"Question: {example.question}")
    if example.scale and example.benchmark == "tatqa":
        lines.append("State the unit or scale (thousand, million, billion, %) with a number.")
    return "\n".join(lines)


def answer_instruction(example: Example) -> str:
    hint = FORMAT_HINTS.get(example.answer_type, "a short answer")
    return f'End with a line "Answer: <{hint}>".'


def messages_for(example: Example, mode: Mode) -> list[Message]:
    if mode is Mode.DIRECT:
        task = f"{question_block(example)}\n\nGive only the final answer. {answer_instruction(example)}"
    elif mode is Mode.COT:
        task = (
            f"{question_block(example)}\n\nThink step by step: find the numbers you need, "
            f"compute, then check. {answer_instruction(example)}"
        )
    else:
        raise ValueError(f"mode {mode} has no plain-model prompt")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}]


def agent_question(example: Example) -> str:
    """What the agent is asked: the question with its material, as an analyst would paste it."""
    return f"{question_block(example)}\n\n{answer_instruction(example)}"


def reasoning_inputs(example: Example) -> tuple[str, str]:
    """(question, context) for `reason()`: the material is the context the PRM checks against."""
    return question_block(example, with_material=False), material(example)

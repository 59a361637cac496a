"""FinanceBench scoring: numeric match when the gold answer is a number, otherwise an LLM judge.

The judge is a model asked whether the reply states the same facts as the gold answer; its
scores carry method "llm-judge:<model id>" so a report never mixes them up with exact scoring.
Numeric match allows the reply to use another unit scale (1,577 vs 1.577 billion when the gold is
in millions) and percent/decimal readings, within 1 % (FinanceBench rounds its answers).
"""

from __future__ import annotations

import re

from evals.example import AnswerType, Example
from evals.numbers import find_numbers, with_word_scale
from evals.scorers.numeric import candidates
from evals.scorers.score import Score, final_answer
from model.engine.types import ChatEngine, SamplingParams

METHOD = "financebench-numeric"
REL_TOL = 0.01
JUDGE_PROMPT = """You are grading an answer to a question about a company's financial filings.

Question: {question}

Reference answer: {gold}

Candidate answer: {reply}

Does the candidate answer state the same conclusion and the same key figures as the reference
(small rounding differences are fine)? Reply with exactly one word: CORRECT or INCORRECT."""


def score_financebench_numeric(example: Example, reply: str) -> Score:
    assert example.gold_value is not None  # callers route free-text answers to the judge
    answer = final_answer(reply)
    numbers = find_numbers(answer) or find_numbers(reply)
    if not numbers:
        return Score(False, 0.0, METHOD, "")
    value, is_pct = numbers[0]
    readings = [reading for reading, _ in candidates(value, is_pct, 0)]
    scaled = with_word_scale(answer)
    if scaled is not None:
        # "1.577 billion" against a gold in millions: try every power of a thousand.
        readings += [scaled / 1000.0**k for k in range(0, 5)]
    gold = example.gold_value
    correct = any(abs(r - gold) <= REL_TOL * abs(gold) + 1e-9 for r in readings)
    return Score(correct, float(correct), METHOD, f"{value:g}{'%' if is_pct else ''}")


class LlmJudge:
    """Scores a free-text reply by asking a model. Clearly an opinion, not a measurement."""

    def __init__(self, engine: ChatEngine, max_new_tokens: int = 8) -> None:
        self.engine = engine
        self.params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)

    @property
    def method(self) -> str:
        return f"llm-judge:{self.engine.model_id}"

    def __call__(self, example: Example, reply: str) -> Score:
        prompt = JUDGE_PROMPT.format(question=example.question, gold=example.gold, reply=reply)
        result = self.engine.chat([{"role": "user", "content": prompt}], params=self.params)
        verdict = result.text.strip().upper()
        correct = bool(re.match(r"\W*CORRECT\b", verdict))
        return Score(correct, float(correct), self.method, "", {"judge_reply": result.text})


def score_financebench(example: Example, reply: str, judge: LlmJudge | None) -> Score:
    if example.answer_type is AnswerType.NUMBER and example.gold_value is not None:
        return score_financebench_numeric(example, reply)
    if judge is None:
        return Score(False, 0.0, "unscored (free-text answer needs --judge)", "")
    return judge(example, reply)

"""FinQA and ConvFinQA scoring: execution accuracy, and program accuracy when the reply has a
program.

Execution accuracy compares the reply's number with the gold executed answer (`exe_ans`) with a
rounding tolerance and percent/decimal equivalence (evals/scorers/numeric.py), or yes/no for
greater() questions. When the reply contains a DSL program it is also executed on the example's
table and compared with the gold program symbolically (details["program_correct"]).
"""

from __future__ import annotations

from evals.example import Example
from evals.scorers.finqa_program import (
    ProgramError,
    execute_program,
    extract_program,
    programs_equivalent,
)
from evals.scorers.numeric import score_number
from evals.scorers.score import Score

METHOD = "finqa-execution-accuracy"


def score_finqa(example: Example, reply: str) -> Score:
    score = score_number(example.gold_value, example.gold, reply, METHOD)
    program = extract_program(reply)
    if program is None:
        return score
    details = dict(score.details, program=program)
    try:
        details["program_result"] = execute_program(program, example.context_table)
    except ProgramError as exc:
        details["program_error"] = str(exc)
    if example.program:
        details["program_correct"] = programs_equivalent(program, example.program)
    return Score(score.correct, score.value, score.method, score.extracted, details)

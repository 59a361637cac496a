"""MATH500 scoring: symbolic equivalence of the reply's answer with the gold LaTeX, by
math-verify (Hugging Face's verifier: \\boxed{} extraction, LaTeX -> sympy, equivalence).

math-verify's own timeouts use SIGALRM, which only works in the main thread; the runner scores
from worker threads, so they are turned off there (sympy work on one answer is bounded anyway).
"""

from __future__ import annotations

import threading

from evals.example import Example
from evals.scorers.score import Score, boxed_content, final_answer

METHOD = "math-verify"


def score_math(example: Example, reply: str) -> Score:
    from math_verify import parse, verify

    main = threading.current_thread() is threading.main_thread()
    timeout = 5 if main else None
    gold = parse(f"${example.gold}$", parsing_timeout=timeout)
    predicted = parse(reply, parsing_timeout=timeout)
    if not predicted:
        # No LaTeX or expression math-verify can anchor on: try the stated final answer alone.
        predicted = parse(f"${final_answer(reply)}$", parsing_timeout=timeout)
    correct = bool(predicted) and verify(gold, predicted, timeout_seconds=timeout)
    shown = boxed_content(reply) or (str(predicted[-1]) if predicted else "")
    return Score(correct, float(correct), METHOD, shown)

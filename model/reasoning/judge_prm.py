"""An LLM-judge PRM over any ChatEngine: the "+" probability idea with a judging prompt.

For step k the judge sees the problem, steps 1..k-1 as accepted context and step k as the step to
judge, and answers with one token. Its score is the probability mass on "good" tokens ("+", "Yes",
"correct"...) over the mass on good and bad ones, read from the first position's top-logprobs
(as many as the engine gives, at most 20). When neither side shows up, the judge has no opinion:
0.5. When only one side shows up, the other side is bounded by the least likely listed token,
which keeps the score below 1 without inventing mass.

Scores are cached per (question, context, steps 1..k): a path that grows one step at a time, as in
AR-Sampling, costs one judge call per new step, not one per step per round.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from model.engine.types import ChatEngine, Message, SamplingParams
from model.reasoning.prm import Solution

JUDGE_SYSTEM_PROMPT = (
    "You check solutions to math and finance problems one step at a time. Judge only the new "
    "step: is its reasoning sound and is its arithmetic right, given the problem and the earlier "
    "steps? Reply with a single character: + if the step is correct, - if it is wrong."
)
GOOD_TOKENS = frozenset({"+", "yes", "correct", "true", "right"})
BAD_TOKENS = frozenset({"-", "no", "incorrect", "false", "wrong"})
_MAX_TOP_LOGPROBS = 20
_CACHE_LIMIT = 50_000


class JudgePRM:
    """Asks a chat model to grade each step; batched over all uncached steps at once."""

    def __init__(
        self,
        engine: ChatEngine,
        system_prompt: str = JUDGE_SYSTEM_PROMPT,
        top_logprobs: int = _MAX_TOP_LOGPROBS,
    ) -> None:
        self.engine = engine
        self.system_prompt = system_prompt
        self.params = SamplingParams(max_new_tokens=1, temperature=0.0, top_logprobs=top_logprobs)
        self._cache: dict[tuple[str, str, tuple[str, ...]], float] = {}
        self._lock = threading.Lock()
        self.num_judge_calls = 0
        self.num_prompt_tokens = 0

    @property
    def name(self) -> str:
        return f"judge:{self.engine.model_id}"

    def score(self, solutions: Sequence[Solution]) -> list[list[float]]:
        keys = [
            [(s.question, s.context, s.steps[: k + 1]) for k in range(len(s.steps))]
            for s in solutions
        ]
        with self._lock:
            missing = list(dict.fromkeys(k for row in keys for k in row if k not in self._cache))
        if missing:
            conversations = [self.judge_messages(q, c, steps) for q, c, steps in missing]
            results = self.engine.chat_batch(conversations, params=self.params)
            with self._lock:
                if len(self._cache) > _CACHE_LIMIT:
                    self._cache.clear()
                for key, result in zip(missing, results, strict=True):
                    self._cache[key] = plus_probability(result.top_logprobs)
                    self.num_judge_calls += 1
                    self.num_prompt_tokens += result.usage.prompt_tokens
        with self._lock:
            return [[self._cache[key] for key in row] for row in keys]

    def judge_messages(self, question: str, context: str, steps: Sequence[str]) -> list[Message]:
        earlier = "\n\n".join(steps[:-1]) or "(none)"
        given = f"Context:\n{context.strip()}\n\n" if context.strip() else ""
        user = (
            f"{given}Problem:\n{question.strip()}\n\nEarlier steps:\n{earlier}\n\n"
            f"New step:\n{steps[-1]}\n\nIs the new step correct? Reply + or -."
        )
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": user},
        ]


def plus_probability(top_logprobs: list[dict[str, float]] | None) -> float:
    """P(good) / (P(good) + P(bad)) at the first generated position; 0.5 when undecided."""
    if not top_logprobs:
        return 0.5
    first = top_logprobs[0]
    good = bad = 0.0
    for token, logprob in first.items():
        word = token.strip().lower()
        if word in GOOD_TOKENS:
            good += math.exp(logprob)
        elif word in BAD_TOKENS:
            bad += math.exp(logprob)
    if good == 0.0 and bad == 0.0:
        return 0.5
    floor = math.exp(min(first.values()))  # an unlisted token is at most this likely
    good, bad = good or floor, bad or floor
    return good / (good + bad)

"""The agent's verified answer: re-derive the final answer step by step from the episode's tool
results, then hold it to the same grounding check as the agent's own answer.

    verifier = AnswerVerifier.from_settings(settings, engine)
    verification = verifier.verify(question, tool_calls, agent_answer)
    verification.status, verification.answer, verification.steps, verification.usage

The policy is asked the question with the tool results (as the agent saw them) as its context and
reasons with AR-Sampling: a PRM (the model-free verifier by default, `HUIJIN_REASON_PRM`) scores
each step, and a step under p is redone, at most m times (`HUIJIN_REASON_*`). The user sees each
step with its score and which were redone.

The product's guarantee is kept: a verified answer with a number no tool returned, or no stated
answer at all, never replaces the agent's answer; neither does one whose reasoning the PRM still
scores under p after its rethinks. The agent's answer is then kept and marked as not confirmed.
A verified answer that passes either confirms the agent's answer (it states the same value) or
revises it (it states another value the tools returned), and the page says which.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.grounding import GroundingReport, check_grounding, extract_numbers, is_derivable
from core.settings import Settings
from model.engine.types import ChatEngine
from model.reasoning import (
    Method,
    ProcessRewardModel,
    ReasoningConfig,
    ReasoningResult,
    Rethink,
    Step,
    TokenUsage,
    load_prm,
    reason,
)
from model.reasoning.answers import last_boxed, normalize_answer

# The embedded model reads about 8k tokens; a price table beyond this is cut (and says so).
MAX_CONTEXT_CHARS = 6000
# How a path states its final answer (model/reasoning/answers.py reads the same markers).
_STATED = re.compile(r"\\boxed\{|\\fbox\{|####|answer\s+is", re.IGNORECASE)


class VerificationStatus(enum.StrEnum):
    CONFIRMED = "confirmed"  # grounded, and the agent's answer states the same value
    REVISED = "revised"  # grounded, but a value the agent's answer does not state
    UNCONFIRMED = "unconfirmed"  # no answer, a number no tool returned, or nothing to verify


@dataclass
class Verification:
    """What the verification found; `answer` is the one to rely on."""

    status: VerificationStatus
    agent_answer: str
    verified_answer: str | None  # as the reasoning stated it; None when it reached no answer
    reason: str  # one sentence: why it is (not) confirmed
    grounding: GroundingReport  # of `verified_answer` against the tool results and the question
    reasoning: ReasoningResult | None = None  # None when the verification could not run

    @property
    def answer(self) -> str:
        if self.status is VerificationStatus.UNCONFIRMED or self.verified_answer is None:
            return self.agent_answer
        return self.verified_answer

    @property
    def is_confirmed(self) -> bool:
        return self.status is VerificationStatus.CONFIRMED

    @property
    def steps(self) -> list[Step]:
        """The chosen path's steps, each with its PRM score and rethink marks."""
        chosen = self.reasoning.chosen if self.reasoning else None
        return chosen.steps if chosen else []

    @property
    def rethinks(self) -> list[Rethink]:
        chosen = self.reasoning.chosen if self.reasoning else None
        return chosen.rethinks if chosen else []

    @property
    def usage(self) -> TokenUsage:
        return self.reasoning.usage if self.reasoning else TokenUsage()

    @property
    def threshold(self) -> float:
        return self.reasoning.config.threshold if self.reasoning else 0.0

    def to_json(self) -> dict[str, Any]:
        result = self.reasoning
        return {
            "status": self.status.value,
            "answer": self.answer,
            "agent_answer": self.agent_answer,
            "verified_answer": self.verified_answer,
            "reason": self.reason,
            "grounding": self.grounding.to_dict(),
            "steps": [vars(step) for step in self.steps],
            "rethinks": [vars(rethink) for rethink in self.rethinks],
            "num_rethinks": result.num_rethinks if result else 0,
            "usage": self.usage.to_json(),
            "prm": result.prm_name if result else None,
            "config": result.config.to_json() if result else None,
            "elapsed_s": round(result.elapsed_s, 3) if result else 0.0,
            "reasoning": result.to_json() if result else None,
        }


@dataclass
class AnswerVerifier:
    """AR-Sampling over one engine with one PRM; shared by every episode of an Assistant."""

    engine: ChatEngine
    prm: ProcessRewardModel
    config: ReasoningConfig

    @classmethod
    def from_settings(cls, settings: Settings, engine: ChatEngine) -> AnswerVerifier:
        """PRM, p, m, N, temperature and token budget from the `reason_*` settings."""
        config = ReasoningConfig(
            method=Method.AR,
            num_samples=settings.reason_num_samples,
            threshold=settings.reason_threshold,
            max_rethinks=settings.reason_max_rethinks,
            temperature=settings.reason_temperature,
            max_tokens=settings.max_new_tokens,
        )
        prm = load_prm(settings.reason_prm, engine=engine, device=settings.device)
        return cls(engine, prm, config)

    def verify(
        self, question: str, tool_calls: Sequence[Mapping[str, Any]], agent_answer: str
    ) -> Verification:
        """Re-derive the answer to `question` from the successful `tool_calls` (dicts with name,
        result, is_error, as the agent logs them) and judge it against `agent_answer`."""
        results = [(str(c["name"]), str(c["result"])) for c in tool_calls if not c["is_error"]]
        if not results:
            return _unconfirmed(
                agent_answer, "the episode has no tool results to re-derive the answer from"
            )
        try:
            result = reason(
                self.engine, question, self.prm, self.config, context=tool_context(results)
            )
        except ValueError as exc:  # e.g. a backend that cannot continue a partial turn
            return _unconfirmed(agent_answer, f"the verification could not run: {exc}")
        return judge(result, agent_answer, [question, *(text for _, text in results)])


def tool_context(results: Sequence[tuple[str, str]], max_chars: int = MAX_CONTEXT_CHARS) -> str:
    """The tool results as the policy and the PRM read them, newest last, cut to `max_chars`."""
    text = "\n\n".join(f"Tool result ({name}):\n{result.strip()}" for name, result in results)
    if len(text) > max_chars:
        text = text[:max_chars] + "\n[... tool results cut ...]"
    return text


def judge(result: ReasoningResult, agent_answer: str, evidence: Sequence[str]) -> Verification:
    """The verdict: a stated answer, grounded as the agent's answer must be, from reasoning the PRM
    accepts (last score at least p after the rethinks); then whether it agrees with the agent."""
    stated = stated_answer(result)
    if stated is None:
        return _unconfirmed(
            agent_answer, "the step-by-step reasoning stated no final answer", result
        )
    report = check_grounding(stated, evidence)
    if not report.is_grounded:
        listed = ", ".join(dict.fromkeys(report.unsupported))
        why = f"the re-derived answer {stated} has number(s) no tool returned ({listed})"
        return Verification(
            VerificationStatus.UNCONFIRMED, agent_answer, stated, why, report, result
        )
    chosen = result.chosen
    threshold = result.config.threshold
    if chosen is not None and chosen.score is not None and chosen.score < threshold:
        why = (
            f"its reasoning still scores {chosen.score:.2f}, under p = {threshold:g}, after "
            f"{len(chosen.rethinks)} rethink(s)"
        )
        return Verification(
            VerificationStatus.UNCONFIRMED, agent_answer, stated, why, report, result
        )
    if agrees(stated, agent_answer):
        status, why = VerificationStatus.CONFIRMED, "re-derived from the tool results"
    else:
        status = VerificationStatus.REVISED
        why = "re-derived from the tool results, and it differs from the agent's answer"
    return Verification(status, agent_answer, stated, why, report, result)


def stated_answer(result: ReasoningResult) -> str | None:
    """The chosen answer as the chosen path wrote it (in its box, unit kept: "238.95%"); None when
    no path stated a final answer. A number that merely ends the text is not a stated answer:
    a small model that trails off must not "verify" whatever figure it wrote last."""
    chosen = result.chosen
    if result.answer is None or chosen is None or not _STATED.search(chosen.text):
        return None
    boxed = last_boxed(chosen.text)
    if boxed is not None and normalize_answer(boxed) == result.answer:
        return _plain(boxed)
    return result.answer


def agrees(verified: str, agent_answer: str) -> bool:
    """Whether the agent's answer states the verified value (rounded, or as percent/decimal)."""
    numbers = extract_numbers(verified)
    if not numbers:
        return verified.strip().lower() in agent_answer.lower()
    stated = [float(token.replace(",", "")) for token in extract_numbers(agent_answer)]
    return all(is_derivable(token, stated) for token in numbers)


def _plain(latex: str) -> str:
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", latex)
    text = text.replace("\\%", "%").replace("\\$", "$").replace("\\,", "").replace("\\!", "")
    return text.strip()


def _unconfirmed(
    agent_answer: str, why: str, result: ReasoningResult | None = None
) -> Verification:
    return Verification(
        VerificationStatus.UNCONFIRMED, agent_answer, None, why, GroundingReport(), result
    )

"""What `reason()` returns: every sample's steps with scores, every rethink, the votes, the cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.reasoning.config import Method, ReasoningConfig
from model.reasoning.policy import TokenUsage


@dataclass
class Step:
    """One step of a sample; `score` is None when no PRM scored it."""

    text: str
    number: int  # k of its "## Step k:" header, or its position when the model wrote none
    score: float | None = None
    is_rethink: bool = False  # this step redoes a weak one (its text starts with the trigger)
    triggered_rethink: bool = False  # scored under p, so a trigger was appended after it


@dataclass(frozen=True)
class Rethink:
    """One trigger AR-Sampling appended: after which step, why, and where in the sample's text."""

    step_index: int  # index in Sample.steps of the weak step (which stays in the context)
    step_number: int  # the k named in the trigger
    score: float  # the weak step's score, under the threshold
    trigger: str  # exactly the text appended
    offset: int  # character offset in Sample.text where the trigger starts


@dataclass
class Sample:
    index: int
    text: str  # the whole assistant turn, prefill and triggers included
    steps: list[Step]
    answer: str | None
    score: float | None  # aggregated step scores (None without a PRM)
    usage: TokenUsage
    finish_reason: str
    rethinks: list[Rethink] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "answer": self.answer,
            "score": self.score,
            "finish_reason": self.finish_reason,
            "usage": self.usage.to_json(),
            "steps": [vars(step) for step in self.steps],
            "rethinks": [vars(rethink) for rethink in self.rethinks],
        }


@dataclass
class ReasoningResult:
    method: Method
    question: str
    answer: str | None  # the chosen answer, normalised; None when no sample stated one
    chosen_index: int | None  # the sample that answer is shown from
    samples: list[Sample]
    votes: dict[str, float]  # answer -> votes (count, or summed PRM score)
    prm_name: str | None
    config: ReasoningConfig
    elapsed_s: float = 0.0

    @property
    def usage(self) -> TokenUsage:
        total = TokenUsage()
        for sample in self.samples:
            total = total + sample.usage
        return total

    @property
    def num_rethinks(self) -> int:
        return sum(len(sample.rethinks) for sample in self.samples)

    @property
    def chosen(self) -> Sample | None:
        return None if self.chosen_index is None else self.samples[self.chosen_index]

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method.value,
            "question": self.question,
            "answer": self.answer,
            "chosen_index": self.chosen_index,
            "votes": self.votes,
            "prm": self.prm_name,
            "usage": self.usage.to_json(),
            "num_rethinks": self.num_rethinks,
            "elapsed_s": round(self.elapsed_s, 3),
            "config": self.config.to_json(),
            "samples": [sample.to_json() for sample in self.samples],
        }

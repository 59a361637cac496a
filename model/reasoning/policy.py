"""The policy side of every method: render the step-format turn, continue it, N at a time.

All methods generate through the same door so their token counts compare: the conversation is
rendered once with the engine's chat template, and each sample continues the partial assistant
turn with `engine.complete()` (AR-Sampling appends a step, a trigger and a header, and continues
again). The N continuations of a round are submitted from N threads at once; the transformers
engine batches concurrent requests, a server engine serves them in parallel.

An engine without `render_prompt` (an OpenAI-compatible server) cannot continue a partial turn
through this protocol; the whole-solution methods then fall back to `chat_batch`, and
AR-Sampling says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from model.engine.types import ChatEngine, ChatResult, EngineError, FinishReason, SamplingParams
from model.reasoning.steps import STEP_SYSTEM_PROMPT, step_messages


@dataclass
class TokenUsage:
    """What the policy model spent: tokens it wrote, tokens it read, and requests made.

    `prompt_tokens` counts every re-read of a prefix: AR-Sampling re-sends its growing path at
    each step, which a server with prefix caching makes cheap but which is still work.
    """

    generated_tokens: int = 0
    prompt_tokens: int = 0
    num_calls: int = 0

    def add(self, result: ChatResult) -> None:
        self.generated_tokens += result.usage.completion_tokens
        self.prompt_tokens += result.usage.prompt_tokens
        self.num_calls += 1

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.generated_tokens + other.generated_tokens,
            self.prompt_tokens + other.prompt_tokens,
            self.num_calls + other.num_calls,
        )

    def to_json(self) -> dict[str, int]:
        return {
            "generated_tokens": self.generated_tokens,
            "prompt_tokens": self.prompt_tokens,
            "num_calls": self.num_calls,
        }


class Policy:
    """One question, rendered for one engine; continues partial assistant turns concurrently."""

    def __init__(
        self,
        engine: ChatEngine,
        question: str,
        context: str = "",
        system_prompt: str = STEP_SYSTEM_PROMPT,
    ) -> None:
        self.engine = engine
        self.messages = step_messages(question, context, system_prompt)
        render = getattr(engine, "render_prompt", None)
        self.prompt: str | None = render(self.messages) if callable(render) else None
        eos_ids = getattr(engine, "eos_ids", None)
        self._eos_ids: frozenset[int] | None = frozenset(eos_ids) if eos_ids else None

    @property
    def can_continue(self) -> bool:
        return self.prompt is not None

    def continue_many(
        self, prefixes: Sequence[str], params: Sequence[SamplingParams]
    ) -> list[ChatResult]:
        """Continue the assistant turn from each prefix (the text written so far), concurrently."""
        if self.prompt is None:
            raise EngineError(
                "this engine cannot continue a partial assistant turn (it has no render_prompt); "
                "use the transformers backend for AR-Sampling"
            )
        prompts = [self.prompt + prefix for prefix in prefixes]
        if len(prompts) == 1:
            return [self.engine.complete(prompts[0], params[0])]
        with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
            futures = [
                pool.submit(self.engine.complete, p, q)
                for p, q in zip(prompts, params, strict=True)
            ]
            return [future.result() for future in futures]

    def sample_many(self, prefix: str, params: Sequence[SamplingParams]) -> list[ChatResult]:
        """Whole solutions: continue `prefix` (may be empty) once per params, or chat if we cannot."""
        if self.prompt is not None:
            return self.continue_many([prefix] * len(params), params)
        # chat_batch takes one SamplingParams; per-sample seeds need one request each.
        with ThreadPoolExecutor(max_workers=len(params)) as pool:
            futures = [pool.submit(self.engine.chat, self.messages, None, p) for p in params]
            return [future.result() for future in futures]

    def is_end_of_turn(self, result: ChatResult) -> bool:
        """Did this continuation end the answer (EOS or budget), rather than stop at a step break?

        With a stop string the engine cuts the text at "\\n\\n" and reports STOP, as it does for
        EOS. The transformers engine tells them apart by its EOS ids; for other engines an empty
        continuation is taken as the end (the next call after an EOS yields at once).
        """
        if result.finish_reason is not FinishReason.STOP:
            return True
        if self._eos_ids is not None:
            return bool(result.completion_ids) and result.completion_ids[-1] in self._eos_ids
        return not result.text.strip()

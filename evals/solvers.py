"""Solvers: one example in, the model's reply and the episode's trajectory out.

`EngineSolver` is the plain model (direct or cot mode): one chat turn, logged as a one-turn
trajectory with its token ids and logprobs. `ReasoningSolver` runs a `model.reasoning` method
(greedy, sc, bon, weighted, ar) on the example; its trajectory carries the whole reasoning result
(every sample's steps, PRM scores and rethinks, the votes, the tokens spent) in `extra`.
`AgentSolver` asks `agent.api.Assistant`, which logs its own trajectory; the runner later
attaches it to the eval run with its reward.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.db.models import utc_now
from core.trajectory import ModelTurnRecord, TrajectoryRecord
from evals.example import Example
from evals.prompts import Mode, agent_question, messages_for, reasoning_inputs
from model.engine.types import ChatEngine, SamplingParams
from model.reasoning import ProcessRewardModel, ReasoningConfig, ReasoningResult, reason
from model.reasoning.answers import last_boxed, normalize_answer
from model.reasoning.steps import step_messages


@dataclass
class Attempt:
    reply: str
    stop_reason: str
    duration_s: float
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    num_steps: int = 1
    # A new trajectory to save (plain model), or the id of one the agent already saved.
    trajectory: TrajectoryRecord | None = None
    trajectory_id: str | None = None
    # Stored with the result row (e.g. a reasoning method's tokens and rethinks).
    details: dict[str, Any] = field(default_factory=dict)


class Solver(Protocol):
    mode: Mode

    def solve(self, example: Example, seed: int) -> Attempt: ...


class EngineSolver:
    def __init__(self, engine: ChatEngine, mode: Mode, max_new_tokens: int, temperature: float):
        if mode is Mode.AGENT:
            raise ValueError("EngineSolver runs direct or cot; the agent mode uses AgentSolver")
        self.engine, self.mode = engine, mode
        self.max_new_tokens, self.temperature = max_new_tokens, temperature

    def solve(self, example: Example, seed: int) -> Attempt:
        messages = messages_for(example, self.mode)
        params = SamplingParams(
            max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=seed
        )
        created_at, started = utc_now(), time.perf_counter()
        result = self.engine.chat(messages, params=params)
        duration = time.perf_counter() - started
        record = TrajectoryRecord(
            model_id=result.model_id,
            created_at=created_at,
            finished_at=utc_now(),
            question=example.question,
            final_answer=result.text,
            stop_reason=result.finish_reason.value,
            messages=[*messages, {"role": "assistant", "content": result.text}],
            settings={
                "mode": self.mode.value,
                "max_new_tokens": str(self.max_new_tokens),
                "temperature": str(self.temperature),
                "seed": str(seed),
            },
            timings={"total_s": duration, "model_s": result.total_time_s},
            turns=[
                ModelTurnRecord(
                    turn_index=0,
                    prompt_ids=result.prompt_ids,
                    completion_ids=result.completion_ids,
                    logprobs=result.logprobs,
                    text=result.text,
                    finish_reason=result.finish_reason.value,
                    duration_s=result.total_time_s,
                    tokenizer_fingerprint=getattr(self.engine, "tokenizer_fingerprint", ""),
                )
            ],
        )
        return Attempt(result.text, result.finish_reason.value, duration, trajectory=record)


class ReasoningSolver:
    """`reason()` per example: the example's material is the context, the runner's seed its seed."""

    mode = Mode.REASON

    def __init__(
        self,
        engine: ChatEngine,
        config: ReasoningConfig,
        prm: ProcessRewardModel | None = None,
        prm_spec: str | None = None,
    ) -> None:
        self.engine, self.config, self.prm, self.prm_spec = engine, config, prm, prm_spec

    def solve(self, example: Example, seed: int) -> Attempt:
        question, context = reasoning_inputs(example)
        created_at, started = utc_now(), time.perf_counter()
        result = reason(
            self.engine, question, prm=self.prm, config=self.config, context=context, seed=seed
        )
        duration = time.perf_counter() - started
        chosen = result.chosen
        reply = reasoning_reply(result)
        messages = step_messages(question, context, self.config.system_prompt)
        summary = {
            "method": result.method.value,
            "prm": result.prm_name,
            "answer": result.answer,
            "num_samples": len(result.samples),
            "num_rethinks": result.num_rethinks,
            **result.usage.to_json(),
        }
        record = TrajectoryRecord(
            model_id=self.engine.model_id,
            created_at=created_at,
            finished_at=utc_now(),
            question=example.question,
            final_answer=reply,
            stop_reason=chosen.finish_reason if chosen else "no_sample",
            messages=[*messages, {"role": "assistant", "content": chosen.text if chosen else ""}],
            settings={
                "mode": self.mode.value,
                "prm": self.prm_spec or "",
                "seed": str(seed),
                **{k: str(v) for k, v in self.config.to_json().items() if k != "seed"},
            },
            timings={"total_s": duration},
            # The samples are made of many engine calls (AR: one per step), so no single turn's
            # token ids describe them; the whole result is kept instead.
            extra={"reasoning": result.to_json()},
        )
        return Attempt(
            reply,
            chosen.finish_reason if chosen else "no_sample",
            duration,
            trajectory=record,
            details={"reasoning": summary},
        )


def reasoning_reply(result: ReasoningResult) -> str:
    """What the scorers read: the sample shown, then the chosen answer on an "Answer:" line (the
    last marker wins, so a vote that differs from the sample's own box is what is scored). The
    sample's box is kept when it holds that answer, so a unit ("25%") reaches the scorer."""
    text = result.chosen.text if result.chosen else ""
    if result.answer is None:
        return text
    boxed = last_boxed(text)
    is_same = boxed is not None and normalize_answer(boxed) == result.answer
    return f"{text.rstrip()}\n\nAnswer: {boxed if is_same else result.answer}"


class AgentSolver:
    mode = Mode.AGENT

    def __init__(self, assistant: Any) -> None:  # agent.api.Assistant (imported by the caller)
        self.assistant = assistant

    def solve(self, example: Example, seed: int) -> Attempt:
        started = time.perf_counter()
        answer = self.assistant.ask(agent_question(example))
        return Attempt(
            reply=answer.answer,
            stop_reason=answer.stop_reason,
            duration_s=time.perf_counter() - started,
            tool_calls=answer.tool_calls,
            num_steps=answer.num_steps,
            trajectory_id=answer.trajectory_id,
        )

"""Solvers: one example in, the model's reply and the episode's trajectory out.

`EngineSolver` is the plain model (direct or cot mode): one chat turn, logged as a one-turn
trajectory with its token ids and logprobs. `AgentSolver` asks `agent.api.Assistant`, which logs
its own trajectory; the runner later attaches it to the eval run with its reward.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.db.models import utc_now
from core.trajectory import ModelTurnRecord, TrajectoryRecord
from evals.example import Example
from evals.prompts import Mode, agent_question, messages_for
from model.engine.types import ChatEngine, SamplingParams


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
                )
            ],
        )
        return Attempt(result.text, result.finish_reason.value, duration, trajectory=record)


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

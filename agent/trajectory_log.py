"""One finished episode -> a `TrajectoryRecord` (the schema the trainer and the evals read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.state import AgentState
from core.trajectory import ModelTurnRecord, ToolCallRecordModel, TrajectoryRecord


def episode_record(
    state: AgentState,
    *,
    model_id: str,
    thread_id: str | None,
    created_at: datetime,
    finished_at: datetime,
    settings: dict[str, Any],
    timings: dict[str, Any],
    tokenizer_fingerprint: str = "",
) -> TrajectoryRecord:
    """The episode as the model saw it: system prompt first, then this question's messages."""
    episode = state["messages"][state["episode_start"] :]
    messages = [{"role": "system", "content": state.get("system_prompt", "")}, *episode]
    return TrajectoryRecord(
        thread_id=thread_id,
        model_id=model_id,
        created_at=created_at,
        finished_at=finished_at,
        question=state["question"],
        final_answer=state.get("final_answer"),
        stop_reason=state.get("stop_reason", ""),
        messages=messages,
        settings=settings,
        timings=timings,
        extra={"tool_names": state.get("tool_names", []), "grounding": state.get("grounding", {})},
        turns=[
            ModelTurnRecord(**turn, tokenizer_fingerprint=tokenizer_fingerprint)
            for turn in state.get("turns", [])
        ],
        tool_calls=[ToolCallRecordModel(**call) for call in state.get("tool_records", [])],
    )

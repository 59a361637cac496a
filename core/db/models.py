"""The trajectory schema: one agent episode, as the agent logs it and the trainer reads it.

A trajectory keeps everything agentic RL needs to rebuild each model turn exactly as the model saw
it (prompt and completion token ids, behaviour logprobs, the tokenizer they belong to), what the
tools answered, and after scoring the reward with its separate terms.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, JsonType


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class Run(Base):
    """A group of trajectories made together: an eval run, a rollout collection, app sessions."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # "app", "eval", "collect", ...
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    config: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)

    trajectories: Mapped[list[Trajectory]] = relationship(back_populates="run")


class Trajectory(Base):
    __tablename__ = "trajectories"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"), index=True, nullable=True)
    thread_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    model_id: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    question: Mapped[str] = mapped_column(Text, default="")
    final_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    stop_reason: Mapped[str] = mapped_column(String(32), default="")
    # The whole conversation in the OpenAI chat shape, tool messages included.
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    timings: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # Free-form facts about the episode: benchmark item id, gold answer, split, ...
    extra: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    reward: Mapped[float | None] = mapped_column(Float, nullable=True)
    reward_terms: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)

    run: Mapped[Run | None] = relationship(back_populates="trajectories")
    turns: Mapped[list[ModelTurn]] = relationship(
        back_populates="trajectory", order_by="ModelTurn.turn_index", cascade="all, delete-orphan"
    )
    tool_calls: Mapped[list[ToolCallRecord]] = relationship(
        back_populates="trajectory",
        order_by="(ToolCallRecord.turn_index, ToolCallRecord.call_index)",
        cascade="all, delete-orphan",
    )


class ModelTurn(Base):
    """One generation by the model: exactly the ids it was given and the ids it wrote."""

    __tablename__ = "model_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trajectory_id: Mapped[str] = mapped_column(ForeignKey("trajectories.id"), index=True)
    turn_index: Mapped[int] = mapped_column(Integer)
    prompt_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    completion_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    # log p(token) under the behaviour policy, one per completion id (None when the server gave none)
    logprobs: Mapped[list[float] | None] = mapped_column(JsonType, nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    finish_reason: Mapped[str] = mapped_column(String(16), default="")
    # Identifies the tokenizer the ids belong to, so training can refuse mismatched ids.
    tokenizer_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)

    trajectory: Mapped[Trajectory] = relationship(back_populates="turns")


class ToolCallRecord(Base):
    __tablename__ = "tool_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trajectory_id: Mapped[str] = mapped_column(ForeignKey("trajectories.id"), index=True)
    turn_index: Mapped[int] = mapped_column(Integer)
    call_index: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    arguments: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    result: Mapped[str] = mapped_column(Text, default="")
    is_error: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)

    trajectory: Mapped[Trajectory] = relationship(back_populates="tool_calls")

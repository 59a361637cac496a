"""Table of the batch evaluations: one row per scored benchmark example of an eval run.

An eval run is a `runs` row of kind "eval" (its config holds benchmark, data path, split, mode,
seed and the chosen example ids); each finished example adds one `eval_results` row, committed
together with its trajectory, so a killed run loses only the examples in flight. It lives in core
(not evals) so that Alembic and the test fixtures see every table through core.db.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, JsonType
from core.db.models import utc_now


class EvalResult(Base):
    __tablename__ = "eval_results"
    __table_args__ = (UniqueConstraint("run_id", "example_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    example_id: Mapped[str] = mapped_column(String(300))
    example_index: Mapped[int] = mapped_column(Integer)  # position in the run's example list
    split: Mapped[str] = mapped_column(String(32), default="")
    trajectory_id: Mapped[str | None] = mapped_column(
        ForeignKey("trajectories.id", ondelete="SET NULL"), nullable=True
    )
    question: Mapped[str] = mapped_column(Text, default="")
    gold: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str] = mapped_column(Text, default="")  # the model's whole final message
    extracted: Mapped[str] = mapped_column(Text, default="")  # the answer the scorer read
    correct: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float] = mapped_column(Float, default=0.0)  # in [0, 1]; F1 for TAT-QA
    method: Mapped[str] = mapped_column(String(200), default="")  # "llm-judge:..." when judged
    answer_type: Mapped[str] = mapped_column(String(32), default="")
    num_steps: Mapped[int] = mapped_column(Integer, default=0)
    num_tool_calls: Mapped[int] = mapped_column(Integer, default=0)
    num_tool_errors: Mapped[int] = mapped_column(Integer, default=0)
    stop_reason: Mapped[str] = mapped_column(String(32), default="")
    error: Mapped[str] = mapped_column(Text, default="")  # why solving failed, if it did
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

"""Trajectories as plain records, and the store that saves, lists, scores and exports them.

The agent and the evals build a `TrajectoryRecord` and hand it to `TrajectoryStore.save`; the
trainer reads records back. Records are pydantic models so a JSONL export and re-import round-trip
exactly, independent of the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from core.db.models import ModelTurn, Run, ToolCallRecord, Trajectory, new_id, utc_now
from core.db.session import Database


class ModelTurnRecord(BaseModel):
    turn_index: int
    prompt_ids: list[int] = Field(default_factory=list)
    completion_ids: list[int] = Field(default_factory=list)
    logprobs: list[float] | None = None
    text: str = ""
    finish_reason: str = ""
    tokenizer_fingerprint: str = ""
    duration_s: float = 0.0


class ToolCallRecordModel(BaseModel):
    turn_index: int
    call_index: int = 0
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: str = ""
    is_error: bool = False
    duration_s: float = 0.0


class TrajectoryRecord(BaseModel):
    """One agent episode, complete enough to replay each model turn token for token."""

    id: str = Field(default_factory=new_id)
    run_id: str | None = None
    thread_id: str | None = None
    model_id: str
    created_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    question: str = ""
    final_answer: str | None = None
    stop_reason: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    reward: float | None = None
    reward_terms: dict[str, Any] = Field(default_factory=dict)
    turns: list[ModelTurnRecord] = Field(default_factory=list)
    tool_calls: list[ToolCallRecordModel] = Field(default_factory=list)

    def validate_alignment(self) -> None:
        """Token ids and logprobs must align one-to-one, or training would be silently wrong."""
        for turn in self.turns:
            if turn.logprobs is not None and len(turn.logprobs) != len(turn.completion_ids):
                raise ValueError(
                    f"turn {turn.turn_index}: {len(turn.logprobs)} logprobs for "
                    f"{len(turn.completion_ids)} completion ids"
                )


class TrajectorySummary(BaseModel):
    id: str
    run_id: str | None
    model_id: str
    created_at: datetime
    question: str
    stop_reason: str
    reward: float | None
    num_turns: int


class ThreadSummary(BaseModel):
    """One conversation: its first question and when it was last used."""

    thread_id: str
    first_question: str
    last_activity: datetime
    num_episodes: int


_SCALAR_FIELDS = (
    "id",
    "run_id",
    "thread_id",
    "model_id",
    "created_at",
    "finished_at",
    "question",
    "final_answer",
    "stop_reason",
    "messages",
    "settings",
    "timings",
    "extra",
    "reward",
    "reward_terms",
)


class TrajectoryNotFound(LookupError):
    pass


class TrajectoryStore:
    """Reads and writes trajectories through one `Database`; safe to share between threads."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create_run(self, kind: str, name: str = "", config: dict[str, Any] | None = None) -> str:
        with self.database.session() as session:
            run = Run(kind=kind, name=name, config=config or {})
            session.add(run)
            session.flush()
            return run.id

    def save(self, record: TrajectoryRecord) -> str:
        """Insert (or replace) one trajectory with all its turns and tool calls."""
        record.validate_alignment()
        with self.database.session() as session:
            existing = session.get(Trajectory, record.id)
            if existing is not None:
                session.delete(existing)
                session.flush()
            row = Trajectory(**{name: getattr(record, name) for name in _SCALAR_FIELDS})
            row.turns = [ModelTurn(**turn.model_dump()) for turn in record.turns]
            row.tool_calls = [ToolCallRecord(**call.model_dump()) for call in record.tool_calls]
            session.add(row)
        return record.id

    def set_reward(self, trajectory_id: str, reward: float, terms: dict[str, Any]) -> None:
        with self.database.session() as session:
            row = session.get(Trajectory, trajectory_id)
            if row is None:
                raise TrajectoryNotFound(f"no trajectory with id {trajectory_id}")
            row.reward = reward
            row.reward_terms = terms

    def get(self, trajectory_id: str) -> TrajectoryRecord:
        """Fetch by full id or by a unique prefix of at least 6 characters (as `show` prints)."""
        with self.database.session() as session:
            query = select(Trajectory).options(
                selectinload(Trajectory.turns), selectinload(Trajectory.tool_calls)
            )
            if len(trajectory_id) >= 6:
                rows = session.scalars(
                    query.where(Trajectory.id.startswith(trajectory_id)).limit(2)
                ).all()
            else:
                rows = session.scalars(query.where(Trajectory.id == trajectory_id)).all()
            if not rows:
                raise TrajectoryNotFound(f"no trajectory with id {trajectory_id}")
            if len(rows) > 1:
                raise TrajectoryNotFound(f"id prefix {trajectory_id} is ambiguous; give more of it")
            return _to_record(rows[0])

    def list(
        self, run_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[TrajectorySummary]:
        with self.database.session() as session:
            num_turns = (
                select(func.count(ModelTurn.id))
                .where(ModelTurn.trajectory_id == Trajectory.id)
                .scalar_subquery()
            )
            query = select(Trajectory, num_turns).order_by(Trajectory.created_at.desc())
            if run_id is not None:
                query = query.where(Trajectory.run_id == run_id)
            rows = session.execute(query.limit(limit).offset(offset)).all()
            return [
                TrajectorySummary(
                    id=row.id,
                    run_id=row.run_id,
                    model_id=row.model_id,
                    created_at=row.created_at,
                    question=row.question,
                    stop_reason=row.stop_reason,
                    reward=row.reward,
                    num_turns=count,
                )
                for row, count in rows
            ]

    def threads(self, limit: int = 30) -> list[ThreadSummary]:
        """Interactive conversations (trajectories outside any run), most recently used first."""
        with self.database.session() as session:
            query = (
                select(
                    Trajectory.thread_id,
                    func.min(Trajectory.created_at),
                    func.max(Trajectory.created_at),
                    func.count(Trajectory.id),
                )
                .where(Trajectory.thread_id.is_not(None), Trajectory.run_id.is_(None))
                .group_by(Trajectory.thread_id)
                .order_by(func.max(Trajectory.created_at).desc())
                .limit(limit)
            )
            groups = session.execute(query).all()
            summaries = []
            for thread_id, first_at, last_at, count in groups:
                first_question = session.scalar(
                    select(Trajectory.question).where(
                        Trajectory.thread_id == thread_id, Trajectory.created_at == first_at
                    )
                )
                summaries.append(
                    ThreadSummary(
                        thread_id=thread_id,
                        first_question=first_question or "",
                        last_activity=last_at,
                        num_episodes=count,
                    )
                )
            return summaries

    def iter_records(
        self, run_id: str | None = None, batch_size: int = 200
    ) -> Iterator[TrajectoryRecord]:
        """Every trajectory (of a run), oldest first, loaded in batches to bound memory."""
        offset = 0
        while True:
            with self.database.session() as session:
                query = (
                    select(Trajectory)
                    .options(selectinload(Trajectory.turns), selectinload(Trajectory.tool_calls))
                    .order_by(Trajectory.created_at, Trajectory.id)
                )
                if run_id is not None:
                    query = query.where(Trajectory.run_id == run_id)
                rows = session.scalars(query.limit(batch_size).offset(offset)).all()
                records = [_to_record(row) for row in rows]
            yield from records
            if len(rows) < batch_size:
                return
            offset += batch_size

    def export_jsonl(self, stream: IO[str], run_id: str | None = None) -> int:
        count = 0
        for record in self.iter_records(run_id=run_id):
            stream.write(record.model_dump_json() + "\n")
            count += 1
        return count


def _to_record(row: Trajectory) -> TrajectoryRecord:
    return TrajectoryRecord(
        **{name: getattr(row, name) for name in _SCALAR_FIELDS},
        turns=[ModelTurnRecord.model_validate(turn, from_attributes=True) for turn in row.turns],
        tool_calls=[
            ToolCallRecordModel.model_validate(call, from_attributes=True)
            for call in row.tool_calls
        ],
    )

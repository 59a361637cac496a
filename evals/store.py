"""Eval runs and their per-example results in the product database.

A run is a `runs` row of kind "eval" whose config says everything needed to redo it (benchmark,
data path, split, mode, seed, the chosen example ids); a result row and its trajectory are written
in one transaction as each example finishes, so `--resume` redoes exactly the examples without a
row and a kill loses nothing that finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from core.db.eval_models import EvalResult
from core.db.models import ModelTurn, Run, ToolCallRecord, Trajectory
from core.db.session import Database
from core.trajectory import TrajectoryRecord

RUN_KIND = "eval"
# Runs the runner executes: evaluations, and rollout collections for training (`huijin train
# collect`: the same runner, agent mode, sampling, several samples per question).
COLLECT_KIND = "collect"
RUN_KINDS = (RUN_KIND, COLLECT_KIND)


class RunNotFound(LookupError):
    pass


@dataclass(frozen=True)
class RunSummary:
    id: str
    name: str
    created_at: datetime
    config: dict[str, Any]
    num_done: int
    num_correct: int

    @property
    def num_examples(self) -> int:
        return int(self.config.get("num_examples", 0))

    @property
    def accuracy(self) -> float | None:
        return self.num_correct / self.num_done if self.num_done else None


class EvalStore:
    """Safe to share between threads: every method opens its own session."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create_run(self, name: str, config: dict[str, Any], kind: str = RUN_KIND) -> str:
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind must be one of {', '.join(RUN_KINDS)} (got {kind!r})")
        with self.database.session() as session:
            run = Run(kind=kind, name=name, config=config)
            session.add(run)
            session.flush()
            return run.id

    def run(self, run_id: str) -> RunSummary:
        """An eval or collect run by id or unique prefix (6+ characters)."""
        with self.database.session() as session:
            query = select(Run).where(Run.kind.in_(RUN_KINDS))
            if len(run_id) >= 6:
                rows = session.scalars(query.where(Run.id.startswith(run_id)).limit(2)).all()
            else:
                rows = session.scalars(query.where(Run.id == run_id)).all()
            if len(rows) != 1:
                why = "is ambiguous; give more of it" if rows else "matches no eval run"
                raise RunNotFound(f"run id {run_id!r} {why}; see `huijin eval list`")
            return self._summary(session, rows[0])

    def runs(self, limit: int = 50) -> list[RunSummary]:
        with self.database.session() as session:
            rows = session.scalars(
                select(Run).where(Run.kind == RUN_KIND).order_by(Run.created_at.desc()).limit(limit)
            ).all()
            return [self._summary(session, row) for row in rows]

    @staticmethod
    def _summary(session: Any, run: Run) -> RunSummary:
        done, correct = session.execute(
            select(
                func.count(EvalResult.id), func.count(EvalResult.id).filter(EvalResult.correct)
            ).where(EvalResult.run_id == run.id)
        ).one()
        return RunSummary(run.id, run.name, run.created_at, dict(run.config), done, correct)

    def finished_ids(self, run_id: str) -> set[str]:
        with self.database.session() as session:
            return set(
                session.scalars(
                    select(EvalResult.example_id).where(EvalResult.run_id == run_id)
                ).all()
            )

    def results(self, run_id: str) -> list[EvalResult]:
        with self.database.session() as session:
            return list(
                session.scalars(
                    select(EvalResult)
                    .where(EvalResult.run_id == run_id)
                    .order_by(EvalResult.example_index)
                ).all()
            )

    def trajectory_summary(self, trajectory_id: str) -> dict[str, Any]:
        """What a report shows of an episode: its messages and tool calls."""
        with self.database.session() as session:
            row = session.get(Trajectory, trajectory_id)
            if row is None:
                return {}
            calls = session.scalars(
                select(ToolCallRecord)
                .where(ToolCallRecord.trajectory_id == trajectory_id)
                .order_by(ToolCallRecord.turn_index, ToolCallRecord.call_index)
            ).all()
            num_turns = session.scalar(
                select(func.count(ModelTurn.id)).where(ModelTurn.trajectory_id == trajectory_id)
            )
            return {
                "messages": row.messages,
                "num_turns": num_turns,
                "tool_calls": [
                    {
                        "name": c.name,
                        "arguments": c.arguments,
                        "result": c.result,
                        "is_error": c.is_error,
                    }
                    for c in calls
                ],
            }

    def save_result(
        self,
        result: EvalResult,
        reward_terms: dict[str, Any],
        trajectory: TrajectoryRecord | None = None,
    ) -> None:
        """Store one finished example: its new trajectory (or the agent's, now attached to the run
        with its reward) and its result row, all or nothing."""
        with self.database.session() as session:
            if trajectory is not None:
                trajectory.validate_alignment()
                session.add(_trajectory_row(trajectory))
                session.flush()
                result.trajectory_id = trajectory.id
            elif result.trajectory_id is not None:
                row = session.get(Trajectory, result.trajectory_id)
                if row is not None:
                    row.run_id = result.run_id
                    row.reward = result.score
                    row.reward_terms = reward_terms
                    row.extra = {**row.extra, **reward_terms.get("extra", {})}
            session.add(result)


def _trajectory_row(record: TrajectoryRecord) -> Trajectory:
    fields = record.model_dump(exclude={"turns", "tool_calls"})
    row = Trajectory(**fields)
    row.turns = [ModelTurn(**turn.model_dump()) for turn in record.turns]
    row.tool_calls = [ToolCallRecord(**call.model_dump()) for call in record.tool_calls]
    return row

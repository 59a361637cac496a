"""The progress bar every long command shows: what runs, a bar, done/total, a live figure (the
running accuracy, the loss), elapsed and remaining time."""

from __future__ import annotations

import math
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_columns(live_field: str = "accuracy") -> tuple[ProgressColumn, ...]:
    """Columns for rich's Progress; `live_field` names the task field shown after the count."""
    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{{task.fields[{live_field}]}}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


class LoggedProgress(Progress):
    """rich's Progress, also for runs no one watches in a terminal.

    Written to a file or a pipe (`nohup`, CI, `2> run.log`) rich draws nothing until the bar stops,
    so a batch job of hours shows no sign of life in its log. There each task's row is printed as
    a plain line when it moves, at most once every `log_every_s` seconds; rich itself prints the
    last state when the bar stops. In a terminal it is rich's live bar, unchanged.

    The remaining time is estimated over the last `speed_estimate_period` seconds: rich's 30 s
    default holds at most one step of a job whose steps take minutes (an AR-Sampling problem, an
    agent episode), so it never showed an estimate there; 10 minutes does.
    """

    def __init__(
        self,
        *columns: str | ProgressColumn,
        log_every_s: float = 30.0,
        speed_estimate_period: float = 600.0,
        **kwargs: Any,
    ):
        super().__init__(*columns, speed_estimate_period=speed_estimate_period, **kwargs)
        self.log_every_s = log_every_s
        self._logged_at: dict[TaskID, float] = {}

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._log(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def _log(self, task_id: TaskID) -> None:
        if self.disable or self.console.is_terminal or not self.live.is_started:
            return
        task = next(task for task in self.tasks if task.id == task_id)
        now = self.get_time()  # rich's clock, so a test's fake clock drives both
        if task.finished or now - self._logged_at.get(task_id, -math.inf) < self.log_every_s:
            return  # a finished row is printed by rich when the bar stops
        self._logged_at[task_id] = now
        self.console.print(self.make_tasks_table([task]))

"""The progress bar every long command shows: what runs, a bar, done/total, a live figure (the
running accuracy, the loss), elapsed and remaining time."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
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

"""The progress bar in a log file: rich alone prints nothing until the bar stops."""

from __future__ import annotations

import io
import re

from rich.console import Console

from app.progress import LoggedProgress, progress_columns


def _run(console: Console, log_every_s: float, steps: int = 3) -> None:
    with LoggedProgress(*progress_columns(), console=console, log_every_s=log_every_s) as bar:
        task = bar.add_task("finqa", total=steps, accuracy="-")
        for done in range(1, steps + 1):
            bar.update(task, advance=1, accuracy=f"acc {done}/{steps}")


def test_a_file_gets_a_line_per_move_and_the_last_state_once() -> None:
    log = io.StringIO()
    _run(Console(file=log, width=100), log_every_s=0.0)
    lines = log.getvalue().splitlines()
    assert [re.search(r"(\d)/3 acc \d/3", line).group(1) for line in lines] == ["1", "2", "3"]
    assert all(line.startswith("finqa") for line in lines)


def test_lines_are_throttled() -> None:
    log = io.StringIO()
    _run(Console(file=log, width=100), log_every_s=3600.0, steps=5)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2  # the first move, then rich's final state
    assert "1/5" in lines[0] and "5/5" in lines[1]


def test_a_terminal_gets_rich_bar_only() -> None:
    screen = io.StringIO()
    _run(Console(file=screen, width=100, force_terminal=True), log_every_s=0.0)
    assert "\x1b[" in screen.getvalue()  # rich's live redraws, no extra plain lines
    assert screen.getvalue().count("\n") <= 2


def test_steps_minutes_apart_get_a_remaining_time() -> None:
    """A step every 2 minutes: rich's 30 s window would hold one sample and estimate nothing."""
    clock = [0.0]
    log = io.StringIO()
    with LoggedProgress(
        *progress_columns(), console=Console(file=log, width=100), get_time=lambda: clock[0]
    ) as bar:
        task = bar.add_task("finqa", total=10, completed=4, accuracy="-")
        for _ in range(3):
            clock[0] += 120.0
            bar.update(task, advance=1)
        assert bar.tasks[0].time_remaining == 3 * 120.0
    assert "0:06:00" in log.getvalue()  # the logged line shows it too

"""`huijin trajectories list/show/export`: read the logged agent episodes.

Registered on the main CLI as `app.add_typer(trajectories_app, name="trajectories")`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.settings import SettingsError, load_settings

trajectories_app = typer.Typer(
    help="List, show and export logged agent episodes (trajectories).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _store():  # -> core.trajectory.TrajectoryStore
    from core.db.session import DatabaseError, open_database
    from core.trajectory import TrajectoryStore

    try:
        return TrajectoryStore(open_database(load_settings().resolved_database_url()))
    except (SettingsError, DatabaseError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


@trajectories_app.command("list")
def list_trajectories(
    limit: Annotated[int, typer.Option(help="Most rows to show, newest first.")] = 20,
    run: Annotated[str | None, typer.Option(help="Only trajectories of this run id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The newest trajectories: id, when, model, stop reason, turns, question."""
    rows = _store().list(run_id=run, limit=limit)
    if as_json:
        typer.echo(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return
    table = Table(title=f"{len(rows)} trajectories")
    for column in ("id", "created", "model", "stop", "turns", "reward", "question"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.id[:12],
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            row.model_id,
            row.stop_reason,
            str(row.num_turns),
            "" if row.reward is None else f"{row.reward:g}",
            row.question[:80],
        )
    console.print(table)


@trajectories_app.command("show")
def show_trajectory(
    trajectory_id: Annotated[str, typer.Argument(help="Id or a unique prefix (6+ characters).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole record as JSON.")
    ] = False,
) -> None:
    """One trajectory: its messages, model turns, tool calls and final answer."""
    from core.trajectory import TrajectoryNotFound

    try:
        record = _store().get(trajectory_id)
    except TrajectoryNotFound as exc:
        err_console.print(f"[red]error:[/red] {exc}; see `huijin trajectories list`")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(record.model_dump_json(indent=2))
        return
    console.print(f"[bold]{record.id}[/bold] · {record.model_id} · stop: {record.stop_reason}")
    console.print(f"question: {record.question}", highlight=False)
    for message in record.messages[1:]:
        content = message.get("content") or ""
        calls = message.get("tool_calls") or []
        console.print(f"[cyan]{message['role']}[/cyan]: {content}", highlight=False)
        for call in calls:
            function = call.get("function", call)
            console.print(f"  -> {function['name']} {function['arguments']}", highlight=False)
    for turn in record.turns:
        console.print(
            f"[dim]turn {turn.turn_index}: {len(turn.prompt_ids)} prompt + "
            f"{len(turn.completion_ids)} completion tokens, {turn.finish_reason}, "
            f"{turn.duration_s:.2f} s[/dim]"
        )
    console.print(f"[bold]answer:[/bold] {record.final_answer}", highlight=False)


@trajectories_app.command("export")
def export_trajectories(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON record a line (the format).")
    ] = True,
    run: Annotated[str | None, typer.Option(help="Only trajectories of this run id.")] = None,
) -> None:
    """Write every trajectory as JSONL (what the trainer reads)."""
    if not jsonl:
        err_console.print("[red]error:[/red] only --jsonl export exists")
        raise typer.Exit(1)
    store = _store()
    if output is None:
        count = store.export_jsonl(sys.stdout, run_id=run)
    else:
        with output.open("w", encoding="utf-8") as handle:
            count = store.export_jsonl(handle, run_id=run)
    err_console.print(f"exported {count} trajectories")

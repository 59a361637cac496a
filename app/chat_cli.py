"""`huijin chat "question"`: the agent in the terminal, each step rendered as it happens.

Registered on the main CLI as a command (`app.command("chat")(chat_command)`). Uses only the
agent's public API. `--json` prints the answer, the tool calls and the trajectory id instead.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from core.settings import SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)


def chat_command(
    question: Annotated[str, typer.Argument(help="What to ask the assistant.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print answer, tool calls and trajectory id as JSON.")
    ] = False,
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this conversation (thread id).")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Override HUIJIN_AGENT_MAX_STEPS.")] = None,
) -> None:
    """Ask the agent one question; it calls tools, shows each step, and answers."""
    from agent.api import Assistant
    from core.db.session import DatabaseError
    from model.engine.types import EngineError

    overrides = {"agent_max_steps": max_steps} if max_steps is not None else {}
    try:
        assistant = Assistant(load_settings(**overrides))
    except (SettingsError, EngineError, DatabaseError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    try:
        render_chat(assistant, question, thread, as_json)
    except (EngineError, ValueError) as exc:
        if os.environ.get("HUIJIN_LOG_LEVEL", "").upper() == "DEBUG":
            raise
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        assistant.close()


def render_chat(assistant, question: str, thread: str | None, as_json: bool) -> None:
    """Run one episode through `assistant` (agent.api.Assistant), printing each step."""
    from agent.api import AnswerEvent, TokenEvent, ToolCallEvent, ToolResultEvent

    if as_json:
        for event in assistant.stream(question, thread):
            if isinstance(event, AnswerEvent):
                typer.echo(json.dumps(event.answer.to_json(), indent=2, default=str))
        return
    with console.status("thinking...") as status:
        for event in assistant.stream(question, thread):
            if isinstance(event, TokenEvent):
                continue
            status.stop()
            if isinstance(event, ToolCallEvent):
                arguments = json.dumps(event.arguments, default=str)
                console.print(f"[bold cyan]tool call[/] {event.name} {arguments}", highlight=False)
            elif isinstance(event, ToolResultEvent):
                style = "red" if event.outcome.is_error else "green"
                console.print(
                    Panel(event.outcome.text, title=event.outcome.name, border_style=style)
                )
            elif isinstance(event, AnswerEvent):
                _print_answer(event.answer)
            status.start()


def _print_answer(answer) -> None:  # answer: agent.api.AgentAnswer
    console.print(Panel(answer.answer, title="answer", border_style="bold"))
    console.print(
        f"[dim]stop: {answer.stop_reason} · steps: {answer.num_steps} · "
        f"{answer.duration_s:.1f} s · thread {answer.thread_id} · "
        f"trajectory {answer.trajectory_id[:12]}[/dim]",
        highlight=False,
    )

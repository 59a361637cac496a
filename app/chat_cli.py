"""`huijin chat "question"`: the agent in the terminal, each step rendered as it happens.

Registered on the main CLI as a command (`app.command("chat")(chat_command)`). Uses only the
agent's public API. `--json` prints the answer, the tool calls and the trajectory id instead.
`--verify` then re-derives the answer step by step from the tool results (`Assistant.verify`):
each step with its PRM score and rethink marks, then the verified answer (in the JSON too).
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
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
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Then re-derive the answer step by step from the tool results (AR-Sampling, "
            "PRM-scored steps; HUIJIN_REASON_*) and show the verified answer.",
        ),
    ] = False,
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
        render_chat(assistant, question, thread, as_json, verify=verify)
    except (EngineError, ValueError) as exc:
        if os.environ.get("HUIJIN_LOG_LEVEL", "").upper() == "DEBUG":
            raise
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        assistant.close()


def render_chat(
    assistant, question: str, thread: str | None, as_json: bool, verify: bool = False
) -> None:
    """Run one episode through `assistant` (agent.api.Assistant), printing each step; with
    `verify`, then its verification."""
    from agent.api import AnswerEvent, TokenEvent, ToolCallEvent, ToolResultEvent

    if as_json:
        for event in assistant.stream(question, thread):
            if isinstance(event, AnswerEvent):
                payload = event.answer.to_json()
                if verify:
                    payload["verification"] = assistant.verify(event.answer).to_json()
                typer.echo(json.dumps(payload, indent=2, default=str))
        return
    answer = None
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
                answer = event.answer
                _print_answer(answer)
            status.start()
        if verify and answer is not None:
            status.update("verifying: re-deriving the answer step by step...")
            verification = assistant.verify(answer)
            status.stop()
            render_verification(verification)


def _print_answer(answer) -> None:  # answer: agent.api.AgentAnswer
    console.print(Panel(answer.answer, title="answer", border_style="bold"))
    console.print(
        f"[dim]stop: {answer.stop_reason} · steps: {answer.num_steps} · "
        f"{answer.duration_s:.1f} s · thread {answer.thread_id} · "
        f"trajectory {answer.trajectory_id[:12]}[/dim]",
        highlight=False,
    )


def render_verification(verification) -> None:  # verification: agent.verify.Verification
    """The re-derivation's steps with scores and rethinks, then the answer to rely on."""
    from agent.verify import VerificationStatus
    from app.reason_cli import render_steps

    result = verification.reasoning
    if result is not None:
        console.rule(
            f"verification · AR-Sampling · PRM {result.prm_name} · "
            f"{len(result.samples)} path(s), chosen {(result.chosen_index or 0) + 1}"
        )
        render_steps(verification.steps, verification.threshold)
    is_kept = verification.status is VerificationStatus.UNCONFIRMED
    title = (
        "answer kept: the verification did not confirm it"
        if is_kept
        else f"verified answer ({verification.status.value})"
    )
    console.print(
        Panel(
            escape(verification.answer),
            title=title,
            border_style="yellow" if is_kept else "green",
        )
    )
    usage = verification.usage
    console.print(
        f"[dim]{escape(verification.reason)} · rethinks on this path: "
        f"{len(verification.rethinks)} · "
        f"generated tokens: {usage.generated_tokens} · {usage.num_calls} model calls[/dim]",
        highlight=False,
    )

"""`huijin tools ...`: list, run and scaffold tools (registered on the main CLI as `tools`).

Every user-facing failure is one red line and exit code 1; a tool's own failure is its error text.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.settings import SettingsError, load_settings

tools_app = typer.Typer(
    help="List, run and scaffold the assistant's tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def _open_registry():  # -> tuple[ToolContext, ToolRegistry]
    from core.db.session import DatabaseError
    from tools.discovery import build_registry
    from tools.tool import ToolContext

    try:
        context = ToolContext(load_settings())
        return context, build_registry(context)
    except (SettingsError, DatabaseError) as exc:
        raise _fail(str(exc)) from None


@tools_app.command("list")
def list_tools(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each tool's JSON schema (OpenAI shape).")
    ] = False,
) -> None:
    """List the tools the model is offered: name, description and argument schema."""
    context, registry = _open_registry()
    try:
        if as_json:
            typer.echo(json.dumps(registry.schemas(), indent=2))
        else:
            table = Table(title=f"{len(registry)} tools")
            table.add_column("name", style="bold")
            table.add_column("description", overflow="fold")
            table.add_column("arguments", overflow="fold")
            for schema in registry.schemas():
                function = schema["function"]
                properties = function["parameters"].get("properties", {})
                required = set(function["parameters"].get("required", []))
                arguments = ", ".join(f"{n}{'' if n in required else '?'}" for n in properties)
                table.add_row(function["name"], function["description"], arguments)
            console.print(table)
        for error in registry.load_errors:
            err_console.print(f"[yellow]skipped:[/yellow] {error}", highlight=False)
    finally:
        context.close()


@tools_app.command("run")
def run_tool(
    name: Annotated[str, typer.Argument(help="Tool name (see `huijin tools list`).")],
    args: Annotated[str, typer.Option("--args", help="Arguments as one JSON object.")] = "{}",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole outcome (result, artefacts) as JSON.")
    ] = False,
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Where to write a chart result as PNG (default: cache dir)."),
    ] = None,
) -> None:
    """Run one tool with JSON arguments, exactly as the model would call it."""
    context, registry = _open_registry()
    try:
        outcome = registry.call(name, args)
        if outcome.result is not None and outcome.result.figure is not None:
            from tools.chart_png import write_png

            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = png or context.settings.cache_dir / "charts" / f"{name}-{stamp}.png"
            write_png(outcome.result.figure, path)
            err_console.print(f"chart written to {path}", highlight=False)
        if as_json:
            typer.echo(outcome.to_json_text())
        elif outcome.is_error:
            err_console.print(f"[red]{outcome.text}[/red]", highlight=False)
        else:
            typer.echo(outcome.text)
    finally:
        context.close()
    if outcome.is_error:
        raise typer.Exit(1)


@tools_app.command("new")
def new_tool(
    name: Annotated[str, typer.Argument(help="Tool name in snake_case, e.g. dividend_yield.")],
    package_dir: Annotated[
        Path | None,
        typer.Option(help="Where the module goes (default: the built-in tools package)."),
    ] = None,
    tests_dir: Annotated[
        Path | None, typer.Option(help="Where its test goes (default: tests/tools).")
    ] = None,
    module: Annotated[
        str | None, typer.Option(help="Import path of the new module (default from its place).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Scaffold a working tool module and its test; the printed next step (one edit) registers it."""
    from tools.scaffold import ScaffoldError, scaffold_tool

    try:
        made = scaffold_tool(
            name, package_dir=package_dir, tests_dir=tests_dir, module=module, force=force
        )
    except ScaffoldError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"created {made.module_path}")
    typer.echo(f"created {made.test_path}")
    typer.echo(f"next: {made.next_step}")

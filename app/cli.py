"""The `huijin` command line: one small layer over the public APIs of core and model.

Every user-facing failure becomes one red line and exit code 1; tracebacks are for bugs only
(set HUIJIN_LOG_LEVEL=DEBUG to see one anyway).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from app.chat_cli import chat_command
from app.cli_errors import user_errors
from app.eval_cli import eval_app
from app.kv_cli import kv_app
from app.reason_cli import reason_command
from app.serve_cli import ServeBackend, serve_vllm
from app.tools_cli import tools_app
from app.train_cli import train_app
from app.trajectories_cli import trajectories_app
from app.web_cli import app_command
from core.settings import (
    Settings,
    SettingsError,
    config_file_path,
    describe_settings,
    load_settings,
)

app = typer.Typer(
    name="huijin",
    help="A self-hosted, agentic financial assistant.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(tools_app, name="tools")
app.add_typer(kv_app, name="kv")
app.add_typer(trajectories_app, name="trajectories")
app.add_typer(eval_app, name="eval")
app.add_typer(train_app, name="train")
app.command("chat")(chat_command)
app.command("reason")(reason_command)
app.command("app")(app_command)

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="TOML settings file (default: HUIJIN_CONFIG_FILE or the user config dir)."
    ),
]


def _use_config_file(path: Path | None) -> None:
    if path is not None:
        if not path.is_file():
            raise SettingsError(f"config file {path} does not exist")
        os.environ["HUIJIN_CONFIG_FILE"] = str(path)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    _use_config_file(config)
    return load_settings(**{key: value for key, value in overrides.items() if value is not None})


@config_app.command("show")
@user_errors()
def config_show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print every setting, its effective value (secrets masked) and where it came from."""
    _use_config_file(config)
    _, reports = describe_settings()
    if as_json:
        payload = {r.name: {"value": r.value, "source": r.source} for r in reports}
        typer.echo(json.dumps(payload, indent=2))
        return
    toml_path = config_file_path()
    table = Table(
        title="huijin settings (env prefix HUIJIN_)",
        caption=f"config file: {toml_path} ({'found' if toml_path.is_file() else 'not present'})",
    )
    table.add_column("setting", style="bold")
    table.add_column("value", overflow="fold")
    table.add_column("from")
    for report in reports:
        table.add_row(report.name, report.value, report.source)
    console.print(table)


@app.command()
@user_errors()
def generate(
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    system: Annotated[str | None, typer.Option(help="Optional system message.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Most tokens to generate.")] = 256,
    temperature: Annotated[float, typer.Option(help="0 means greedy.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed for sampling.")] = None,
    stream: Annotated[bool, typer.Option(help="Print tokens as they come.")] = True,
    model: Annotated[str | None, typer.Option(help="Override HUIJIN_MODEL.")] = None,
    backend: Annotated[str | None, typer.Option(help="Override HUIJIN_BACKEND.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole result as JSON.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Generate one assistant reply to PROMPT with the configured model."""
    from model.engine.factory import create_engine
    from model.engine.types import SamplingParams

    settings = _settings(config, model=model, backend=backend)
    params = SamplingParams(max_new_tokens=max_tokens, temperature=temperature, seed=seed)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    engine = create_engine(settings)
    try:
        if as_json or not stream:
            result = engine.chat(messages, params=params)
            if as_json:
                typer.echo(json.dumps(_result_json(result), indent=2))
            else:
                typer.echo(result.text)
            return
        result = None
        for event in engine.stream_chat(messages, params=params):
            sys.stdout.write(event.text)
            sys.stdout.flush()
            result = event.result or result
        sys.stdout.write("\n")
        if result is not None:
            err_console.print(
                f"[dim]{result.usage.completion_tokens} tokens, "
                f"{result.finish_reason.value}, {result.total_time_s:.2f} s[/dim]"
            )
    finally:
        engine.close()


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "model": result.model_id,
        "text": result.text,
        "content": result.content,
        "finish_reason": result.finish_reason.value,
        "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in result.tool_calls],
        "completion_ids": result.completion_ids,
        "logprobs": result.logprobs,
        "usage": {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
        },
        "time_to_first_token_s": result.time_to_first_token_s,
        "total_time_s": result.total_time_s,
    }


@app.command()
@user_errors()
def models(
    model: Annotated[str | None, typer.Option(help="Override HUIJIN_MODEL.")] = None,
    backend: Annotated[str | None, typer.Option(help="Override HUIJIN_BACKEND.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Load the configured model and show what it is, where it came from and its memory."""
    from model.engine.factory import create_engine

    settings = _settings(config, model=model, backend=backend)
    engine = create_engine(settings)
    try:
        info = engine.info()
    finally:
        engine.close()
    rows = {
        "model": info.model_id,
        "backend": info.backend,
        "source": info.source,
        "dtype": info.dtype,
        "device": info.device,
        "parameters": f"{info.num_parameters / 1e6:.1f} M" if info.num_parameters else "?",
        "memory": f"{info.memory_bytes / 2**20:.0f} MiB" if info.memory_bytes else "?",
        "context length": str(info.context_length or "?"),
        "load time": f"{info.load_time_s:.2f} s",
    }
    if as_json:
        typer.echo(
            json.dumps(
                {
                    **rows,
                    "num_parameters": info.num_parameters,
                    "memory_bytes": info.memory_bytes,
                    **info.extra,
                },
                indent=2,
            )
        )
        return
    table = Table(show_header=False)
    for key, value in rows.items():
        table.add_row(key, value)
    console.print(table)


@app.command(context_settings={"allow_extra_args": True})
@user_errors()
def serve(
    ctx: typer.Context,
    checkpoint: Annotated[
        str | None, typer.Argument(help="Checkpoint to serve (default: HUIJIN_MODEL).")
    ] = None,
    backend: Annotated[
        ServeBackend,
        typer.Option(help="transformers (in-process, CPU or GPU) or vllm (CUDA, NQKV plugin)."),
    ] = ServeBackend.TRANSFORMERS,
    kv_cache: Annotated[
        str | None,
        typer.Option(help="fp16, nqkv2, nqkv3 (transformers), nqkv4; default HUIJIN_KV_CACHE."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    model: Annotated[str | None, typer.Option(help="Override HUIJIN_MODEL.")] = None,
    print_command: Annotated[
        bool, typer.Option("--print-command", help="vllm: print the vllm command and exit.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions).

    With --backend vllm, arguments after `--` go to `vllm serve` unchanged.
    """
    from model.engine.factory import create_engine
    from model.serving.openai_server import serve as run_server

    # backend: the engine served in-process, whatever HUIJIN_BACKEND says (that picks a client).
    overrides = {"host": host, "port": port, "model": checkpoint or model, "kv_cache": kv_cache}
    settings = _settings(config, backend="transformers", **overrides)
    if backend is ServeBackend.VLLM:
        serve_vllm(settings, extra_args=ctx.args, print_command=print_command)
        return
    if ctx.args or print_command:
        raise SettingsError("extra vLLM arguments and --print-command need --backend vllm")
    engine = create_engine(settings)
    info = engine.info()
    err_console.print(
        f"serving [bold]{info.model_id}[/bold] ({info.backend}, loaded in {info.load_time_s:.1f} s) "
        f"at http://{settings.host}:{settings.port}/v1"
    )
    try:
        run_server(engine, host=settings.host, port=settings.port)
    finally:
        engine.close()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

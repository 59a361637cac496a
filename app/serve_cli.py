"""`huijin serve --backend vllm`: vLLM's OpenAI-compatible server with the NQKV plugin.

The `serve` command in cli.py parses the options and settings; this module runs the vLLM side:
build the `vllm serve` command line, check that vLLM can run here, then hand the terminal to
vLLM until it exits. Every failure a user can cause is one red line and exit code 1.
"""

from __future__ import annotations

import shlex
import subprocess
from enum import StrEnum

import typer
from rich.console import Console

from core.settings import Settings

err_console = Console(stderr=True)


class ServeBackend(StrEnum):
    """Which server `huijin serve` starts."""

    TRANSFORMERS = "transformers"  # the in-process engine behind huijin's own OpenAI server
    VLLM = "vllm"  # vLLM's server (CUDA), NQKV pages through the plugin


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def serve_vllm(settings: Settings, extra_args: list[str], print_command: bool) -> None:
    """Start `vllm serve` for settings.model with settings.kv_cache; exit with vLLM's status."""
    from model.nqkv.vllm_plugin.launch import (
        VLLMLaunchError,
        VLLMServeOptions,
        check_vllm_runtime,
        vllm_serve_command,
    )

    try:
        options = VLLMServeOptions(
            checkpoint=settings.model,
            kv_cache=settings.kv_cache,
            host=settings.host,
            port=settings.port,
            extra_args=tuple(extra_args),
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    command = vllm_serve_command(options)
    if print_command:
        typer.echo(shlex.join(command))
        return
    try:
        check_vllm_runtime(options)
    except VLLMLaunchError as exc:
        raise _fail(str(exc)) from None
    err_console.print(
        f"starting vLLM for [bold]{options.checkpoint}[/bold] ({options.kv_cache} KV cache) at "
        f"{options.base_url}; the app and evals use it with HUIJIN_BACKEND=openai "
        f"HUIJIN_OPENAI_BASE_URL={options.base_url}",
        highlight=False,
    )
    raise typer.Exit(subprocess.run(command, check=False).returncode)

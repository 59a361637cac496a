"""What every `huijin` command does with an error the user can cause: one red line, exit code 1.

The commands (and benchmark scripts that drive the same code) share one list of such errors, so
a bad setting, a missing file, an unknown run id or an unreachable server reads the same
everywhere; `HUIJIN_LOG_LEVEL=DEBUG` re-raises for the traceback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from core.settings import SettingsError

F = TypeVar("F", bound=Callable[..., Any])
err_console = Console(stderr=True)


def user_error_types() -> tuple[type[Exception], ...]:
    """Errors that mean "fix your input", not "a bug": imported late, as the CLI starts fast."""
    from core.db.session import DatabaseError
    from evals.store import RunNotFound
    from model.engine.types import EngineError

    # ValueError: bad option values, and the training/eval errors that subclass it.
    return (SettingsError, EngineError, DatabaseError, FileNotFoundError, RunNotFound, ValueError)


def print_user_error(exc: BaseException, console: Console = err_console) -> None:
    """The one line; re-raises `exc` instead when HUIJIN_LOG_LEVEL is DEBUG."""
    if os.environ.get("HUIJIN_LOG_LEVEL", "").upper() == "DEBUG":
        raise exc
    console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)


def user_errors(interrupted: str = "interrupted") -> Callable[[F], F]:
    """Decorate a typer command: user errors exit 1 with one line, Ctrl-C exits 130 with
    `interrupted` (say there how to resume, where the command can)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except user_error_types() as exc:
                print_user_error(exc)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                err_console.print(interrupted)
                raise typer.Exit(130) from None

        return wrapper  # type: ignore[return-value]

    return decorate

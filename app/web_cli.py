"""`huijin app`: the Gradio chat page on the configured model (the product's main job).

Binds 127.0.0.1 by default. Any other address, or `--share`, exposes the page beyond this machine,
so it then requires a login (`HUIJIN_AUTH=user:password`) instead of trusting the network.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer
from rich.console import Console

err_console = Console(stderr=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False


def app_command(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 7860).")] = None,
    share: Annotated[
        bool, typer.Option("--share", help="Also open a public gradio.live link (needs internet).")
    ] = False,
) -> None:
    """Start the chat page: ask questions, watch each tool step, get charts and checked numbers."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline by default
    from agent.api import Assistant
    from app.ui.layout import build_app, launch_options
    from core.db.session import DatabaseError
    from core.settings import SettingsError, load_settings
    from model.engine.types import EngineError

    overrides = {"host": host, "app_port": port}
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
        logins = settings.app_logins()
        if (share or not is_loopback(settings.host)) and not logins:
            where = "a public share link" if share else f"address {settings.host}"
            raise SettingsError(
                f"{where} exposes the app beyond this machine: set HUIJIN_AUTH=user:password "
                "to require a login (or bind 127.0.0.1)"
            )
        err_console.print("loading the model and tools…")
        assistant = Assistant(settings)
    except (SettingsError, EngineError, DatabaseError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    demo = build_app(assistant)
    err_console.print(
        f"huijin app on [bold]{assistant.engine.model_id}[/bold] at "
        f"http://{settings.host}:{settings.app_port}  (Ctrl-C stops it)",
        highlight=False,
    )
    try:
        demo.queue().launch(
            server_name=settings.host,
            server_port=settings.app_port,
            share=share,
            auth=logins or None,
            quiet=True,
            **launch_options(),
        )
    except OSError as exc:  # port taken, or no internet for --share
        err_console.print(f"[red]error:[/red] cannot start the app: {exc}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
        assistant.close()

"""`huijin reason "question"`: verified reasoning in the terminal.

Registered on the main CLI as a command (`app.command("reason")(reason_command)`). Prints every
sample's steps with their PRM scores, marks each step that triggered a rethink and each redo, then
the chosen answer, the votes and the tokens spent. `--json` prints the whole ReasoningResult.
`render_steps` is shared with `huijin chat --verify`.
Uses only the public API of model.reasoning and the engine factory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from core.settings import SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)

METHODS = ("ar", "greedy", "sc", "bon", "weighted")


def reason_command(
    question: Annotated[str, typer.Argument(help="The problem to solve.")],
    method: Annotated[
        str,
        typer.Option(help="ar (AR-Sampling), greedy, sc (majority), bon (Best-of-N), weighted."),
    ] = "ar",
    prm: Annotated[
        str | None,
        typer.Option(
            help="verifier, judge, a PRM checkpoint path, or name:w,... (HUIJIN_REASON_PRM)."
        ),
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", help="N samples (HUIJIN_REASON_NUM_SAMPLES).")
    ] = None,
    p: Annotated[
        float | None, typer.Option("--p", help="Rethink threshold p (HUIJIN_REASON_THRESHOLD).")
    ] = None,
    m: Annotated[
        int | None, typer.Option("--m", help="Most rethinks per step (HUIJIN_REASON_MAX_RETHINKS).")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (HUIJIN_REASON_TEMPERATURE).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Generated-token budget per sample (HUIJIN_MAX_NEW_TOKENS).")
    ] = None,
    selection: Annotated[
        str, typer.Option(help="How AR picks among its paths: best, weighted, majority.")
    ] = "best",
    context: Annotated[
        str | None,
        typer.Option(help="Facts or tool results the answer must agree with (@file reads a file)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Base seed for sampling.")] = None,
    model: Annotated[str | None, typer.Option(help="Override HUIJIN_MODEL.")] = None,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Allow a PRM checkpoint's own model code (Qwen2.5-Math-PRM).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole result as JSON.")
    ] = False,
) -> None:
    """Solve QUESTION step by step; a PRM scores each step and AR-Sampling redoes weak ones."""
    from model.engine.types import EngineError

    try:
        result = _run(
            question, method, prm, n, p, m, temperature, max_tokens, selection, context, seed,
            model, trust_remote_code,
        )  # fmt: skip
    except (SettingsError, EngineError, ValueError, OSError) as exc:
        if os.environ.get("HUIJIN_LOG_LEVEL", "").upper() == "DEBUG":
            raise
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        render_result(result)


def _run(question, method, prm, n, p, m, temperature, max_tokens, selection, context, seed, model,
         trust_remote_code):  # fmt: skip
    from model.engine.factory import create_engine
    from model.reasoning import ReasoningConfig, load_prm, reason
    from model.reasoning.prm_factory import parse_prm_spec

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if not question.strip():
        raise ValueError("the question is empty; pass the problem to solve in quotes")
    settings = load_settings(**({"model": model} if model else {}))
    config = ReasoningConfig(
        method=method,
        num_samples=n if n is not None else settings.reason_num_samples,
        threshold=p if p is not None else settings.reason_threshold,
        max_rethinks=m if m is not None else settings.reason_max_rethinks,
        temperature=temperature if temperature is not None else settings.reason_temperature,
        max_tokens=max_tokens if max_tokens is not None else settings.max_new_tokens,
        selection=selection,
        seed=seed,
    )
    context_text = _read_context(context)
    prm_spec = prm or settings.reason_prm
    needs_prm = method in ("ar", "bon", "weighted") or prm is not None
    if needs_prm:
        parse_prm_spec(prm_spec)  # reject a typo before loading the model
    engine = create_engine(settings)
    try:
        scorer = (
            load_prm(
                prm_spec, engine=engine, device=settings.device, trust_remote_code=trust_remote_code
            )
            if needs_prm
            else None
        )
        return reason(engine, question, prm=scorer, config=config, context=context_text)
    finally:
        engine.close()


def _read_context(context: str | None) -> str:
    if not context:
        return ""
    if context.startswith("@"):
        path = Path(context[1:]).expanduser()
        if not path.is_file():
            raise ValueError(f"context file {path} does not exist")
        return path.read_text()
    return context


def render_result(result) -> None:  # result: model.reasoning.ReasoningResult
    """Each sample's steps with scores and rethinks, then the chosen answer."""
    threshold = result.config.threshold
    for sample in result.samples:
        is_chosen = sample.index == result.chosen_index
        title = (
            ("chosen · " if is_chosen else "") + f"sample {sample.index + 1}/{len(result.samples)}"
            f" · answer {sample.answer if sample.answer is not None else '-'}"
            f" · score {_fmt(sample.score)} · {sample.usage.generated_tokens} tokens"
            f" · {len(sample.rethinks)} rethinks · {sample.finish_reason}"
        )
        console.rule(f"[bold]{escape(title)}[/bold]" if is_chosen else escape(title))
        render_steps(sample.steps, threshold)
    votes = ", ".join(f"{answer}: {votes:.3g}" for answer, votes in result.votes.items()) or "none"
    usage = result.usage
    console.print(
        Panel(
            escape(result.answer if result.answer is not None else "(no answer found)"),
            title=f"answer ({result.method.value}, PRM {result.prm_name or 'none'})",
            border_style="bold",
        )
    )
    console.print(
        f"[dim]votes: {escape(votes)} · rethinks: {result.num_rethinks} · generated tokens: "
        f"{usage.generated_tokens} · prompt tokens: {usage.prompt_tokens} · "
        f"{usage.num_calls} model calls · {result.elapsed_s:.1f} s[/dim]",
        highlight=False,
    )


def render_steps(steps, threshold: float) -> None:
    """Each step (model.reasoning.Step) with its PRM score, red under `threshold`, and marks on
    the steps that triggered a rethink and on the redos; also used by `huijin chat --verify`."""
    for step in steps:
        weak = step.score is not None and step.score < threshold
        style = "red" if weak else "green" if step.score is not None else "dim"
        marks = (" [yellow]↻ rethink[/yellow]" if step.is_rethink else "") + (
            " [red]✗ weak, rethought[/red]" if step.triggered_rethink else ""
        )
        console.print(
            f"[{style}][{_fmt(step.score)}][/{style}] step {step.number}{marks}", highlight=False
        )
        console.print(escape(step.text), highlight=False)


def _fmt(score: float | None) -> str:
    return "  -  " if score is None else f"{score:.2f}"

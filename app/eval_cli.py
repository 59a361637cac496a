"""`huijin eval run/list/report`: batch evaluations on benchmarks, over the evals API.

Registered on the main CLI as `app.add_typer(eval_app, name="eval")`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from app.cli_errors import user_errors
from app.progress import LoggedProgress, progress_columns
from core.settings import load_settings

eval_app = typer.Typer(
    help="Batch evaluations on financial benchmarks: run (resumable), list, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@eval_app.command("run")
@user_errors()
def run_command(
    benchmark: Annotated[
        str | None,
        typer.Option(help="finqa, convfinqa, tatqa, financebench, gsm8k, math500 or tooluse."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Benchmark file (tooluse: the snapshot dir), or hf://datasets/OWNER/NAME/PATH"
            "[@REV] from the Hugging Face hub; default under HUIJIN_BENCHMARKS_DIR."
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Split name (default: the benchmark's).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Evaluate a seeded sample of N examples.")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="agent, direct or cot (default direct; --method: reason).")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="Run a reasoning method on the plain model instead: greedy, sc, bon, weighted "
            "or ar (AR-Sampling)."
        ),
    ] = None,
    prm: Annotated[
        str | None,
        typer.Option(
            help="PRM for --method bon/weighted/ar: verifier, judge or a checkpoint path."
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option("--n", help="N samples for --method (default HUIJIN_REASON_NUM_SAMPLES)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Examples solved at the same time.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed for the sample and for sampling.")] = 0,
    max_new_tokens: Annotated[
        int, typer.Option(help="Cap per reply (direct/cot; per sample for --method).")
    ] = 256,
    judge: Annotated[
        bool, typer.Option(help="Score free-text answers with an LLM judge (marked as such).")
    ] = False,
    name: Annotated[str, typer.Option(help="A name for the run.")] = "",
    resume: Annotated[
        str | None, typer.Option(help="Continue this run id; redoes nothing finished.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Override HUIJIN_MODEL.")] = None,
    backend: Annotated[str | None, typer.Option(help="Override HUIJIN_BACKEND.")] = None,
) -> None:
    """Run (or resume) an evaluation; each example is stored as soon as it is scored."""
    from evals.api import EvalSession, resolve_data
    from evals.runner import EvalConfig

    overrides = {k: v for k, v in {"model": model, "backend": backend}.items() if v is not None}
    settings = load_settings(**overrides)
    with EvalSession(settings) as evals:
        if resume is None:
            if benchmark is None:
                raise ValueError("give --benchmark NAME (or --resume RUN_ID)")
            path, split = resolve_data(settings, benchmark, split, data)
            config = EvalConfig(
                benchmark=benchmark,
                data=str(path),
                split=split,
                limit=limit,
                concurrency=concurrency,
                seed=seed,
                max_new_tokens=max_new_tokens,
                judge=judge,
                model=settings.model
                if settings.backend.value == "transformers"
                else (settings.openai_model or settings.openai_base_url),
                backend=settings.backend.value,
                **_mode_options(settings, mode, method, prm, n),
            )
            run_id = evals.start(config, name)
            today = EvalConfig.from_run(evals.run(run_id).config).today
            dated = f"the agent's today is {today}; " if today else ""
            err_console.print(
                f"run [bold]{run_id}[/bold] started ({dated}resume with --resume {run_id})"
            )
        else:
            run_id = evals.run(resume).id
            err_console.print(f"resuming run [bold]{run_id}[/bold]")
        _execute_with_progress(evals, run_id)
        summary = evals.run(run_id)
    _print_summary(summary)


def _mode_options(
    settings: Any, mode: str | None, method: str | None, prm: str | None, n: int | None
) -> dict[str, Any]:
    """EvalConfig fields for the mode, or for a reasoning method (sampling knobs from reason_*)."""
    if method is None:
        if prm is not None or n is not None:
            raise ValueError("--prm and --n go with --method (greedy, sc, bon, weighted or ar)")
        return {"mode": mode or "direct", "temperature": settings.temperature}
    if mode not in (None, "reason"):
        raise ValueError(f"--method runs on the plain model, not in mode {mode}; drop --mode")
    return {
        "mode": "reason",
        "method": method,
        "prm": prm,
        "num_samples": n if n is not None else settings.reason_num_samples,
        "threshold": settings.reason_threshold,
        "max_rethinks": settings.reason_max_rethinks,
        "temperature": settings.reason_temperature,
    }


def _execute_with_progress(evals: Any, run_id: str) -> None:
    from evals.report import wilson_interval

    summary = evals.run(run_id)
    tally = {"done": summary.num_done, "correct": summary.num_correct, "errors": 0}

    def accuracy_text() -> str:
        if not tally["done"]:
            return "accuracy -"
        low, high = wilson_interval(tally["correct"], tally["done"])
        text = f"accuracy {tally['correct'] / tally['done']:.1%} [{low:.0%}, {high:.0%}]"
        return text + (f", {tally['errors']} errors" if tally["errors"] else "")

    columns = progress_columns()
    with LoggedProgress(*columns, console=err_console) as progress:
        task = progress.add_task(
            summary.name,
            total=summary.num_examples,
            completed=tally["done"],
            accuracy=accuracy_text(),
        )

        def on_result(finished: Any) -> None:
            tally["done"] += 1
            tally["correct"] += int(finished.correct)
            tally["errors"] += int(bool(finished.error))
            progress.update(task, advance=1, accuracy=accuracy_text())

        try:
            evals.execute(run_id, on_result=on_result)
        except KeyboardInterrupt:
            progress.stop()
            err_console.print(f"interrupted; finished examples are saved: --resume {run_id}")
            raise typer.Exit(130) from None


def _print_summary(summary: Any) -> None:
    from evals.report import wilson_interval

    if summary.num_done:
        low, high = wilson_interval(summary.num_correct, summary.num_done)
        accuracy = f"{summary.accuracy:.1%} (95% CI {low:.1%}-{high:.1%})"
    else:
        accuracy = "-"
    console.print(
        f"run {summary.id}: {summary.num_done}/{summary.num_examples} done, accuracy {accuracy}; "
        f"report: huijin eval report {summary.id}",
        highlight=False,
    )


@eval_app.command("list")
@user_errors()
def list_command(
    limit: Annotated[int, typer.Option(help="Most runs to show, newest first.")] = 20,
) -> None:
    """Every eval run: id, when, benchmark, split, mode, model, progress, accuracy."""
    from evals.api import EvalSession

    with EvalSession(load_settings()) as evals:
        runs = evals.runs(limit)
    table = Table(title=f"{len(runs)} eval runs")
    table.add_column("id", no_wrap=True)
    table.add_column("created", no_wrap=True)
    for column in ("benchmark", "split", "mode", "model", "done", "accuracy"):
        table.add_column(column, overflow="fold")
    for run in runs:
        c = run.config
        table.add_row(
            run.id[:12],
            run.created_at.strftime("%Y-%m-%d %H:%M"),
            str(c.get("benchmark", "")),
            str(c.get("split", "")),
            str(c.get("method") or c.get("mode", "")),
            str(c.get("model", "")),
            f"{run.num_done}/{run.num_examples}",
            "-" if run.accuracy is None else f"{run.accuracy:.1%}",
        )
    console.print(table)


@eval_app.command("report")
@user_errors()
def report_command(
    run_ids: Annotated[
        list[str], typer.Argument(help="One or more run ids (or 6+ char prefixes).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Directory for report.md/.html (default: data dir).")
    ] = None,
) -> None:
    """Markdown + HTML report: accuracy with 95% intervals, breakdowns, runs side by side, a plot,
    and the worst failures with their trajectories."""
    from evals.api import EvalSession

    settings = load_settings()
    with EvalSession(settings) as evals:
        ids = [evals.run(run_id).id for run_id in run_ids]
        out = out or settings.data_dir / "reports" / "-".join(i[:8] for i in ids)
        paths = evals.report(ids, out)
    for kind, path in paths.items():
        console.print(f"{kind}: {path}", highlight=False)

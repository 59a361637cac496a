"""`huijin train collect/sft/rl/loop`: agentic RL from logged trajectories.

Registered on the main CLI as `app.add_typer(train_app, name="train")`. Collection is an eval run
(kind "collect", agent mode, sampling, G episodes per question); training reads any run's logged
episodes through model.training's public API. Every user error is one red line and exit code 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from app.cli_errors import user_errors
from app.progress import LoggedProgress, progress_columns
from core.settings import load_settings

train_app = typer.Typer(
    help="Agentic RL from logged trajectories: collect rollouts, SFT warm start, GRPO, loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

FromRun = Annotated[
    str | None, typer.Option("--from-run", help="Run id (or 6+ char prefix) to train on.")
]
resumable_user_errors = user_errors("interrupted; continue with --resume")

Out = Annotated[Path, typer.Option("--out", help="Output directory (loads with HUIJIN_MODEL=DIR).")]
Model = Annotated[
    str | None, typer.Option(help="Model to start from (default HUIJIN_MODEL: the run's model).")
]
Lora = Annotated[
    bool, typer.Option("--lora/--full", help="LoRA adapters (merged on save) or all weights.")
]
Resume = Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")]
Epochs = Annotated[int, typer.Option(help="Passes over the run's episodes.")]
MaxSteps = Annotated[int | None, typer.Option(help="Stop after this many optimizer steps.")]
Lr = Annotated[float | None, typer.Option("--lr", help="Learning rate (default by LoRA/full).")]
MaxLength = Annotated[int, typer.Option(help="Longest sequence; longer turns are skipped.")]
GradAccum = Annotated[int, typer.Option(help="Sequences per optimizer step.")]
CheckpointEvery = Annotated[int, typer.Option(help="Resumable checkpoint every N steps.")]


@train_app.command("collect")
@resumable_user_errors
def collect_command(
    suite: Annotated[str, typer.Option(help="Benchmark to collect on (tooluse).")] = "tooluse",
    split: Annotated[str, typer.Option(help="Split whose questions are asked.")] = "train",
    group: Annotated[int, typer.Option(help="Episodes per question (the GRPO group size G).")] = 8,
    limit: Annotated[int | None, typer.Option(help="A seeded sample of N questions.")] = None,
    concurrency: Annotated[int, typer.Option(help="Episodes run (and batched) at once.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the question sample.")] = 0,
    data: Annotated[Path | None, typer.Option(help="Suite data (default: the snapshot).")] = None,
    model: Annotated[str | None, typer.Option(help="Override HUIJIN_MODEL.")] = None,
    resume: Annotated[str | None, typer.Option(help="Continue this collect run id.")] = None,
) -> None:
    """Run the agent G times per question with sampling (HUIJIN_TRAIN_TEMPERATURE), logging every
    episode with its reward terms, as an eval run of kind "collect"."""
    from evals.api import EvalSession, resolve_data
    from evals.rollouts import RolloutSpec, rollout_settings, score_run, start_collect
    from model.training.rewards import RewardWeights

    settings = load_settings(**({"model": model} if model else {}))
    path, split = resolve_data(settings, suite, split, data)
    spec = RolloutSpec(
        data=path,
        split=split,
        group=group,
        limit=limit,
        seed=seed,
        concurrency=concurrency,
        temperature=settings.train_temperature,
        benchmark=suite,
    )
    with EvalSession(rollout_settings(settings, None, spec.temperature)) as evals:
        if resume is None:
            run_id = start_collect(evals, spec)
            err_console.print(f"collect run [bold]{run_id}[/bold] started (--resume {run_id})")
        else:
            run_id = evals.run(resume).id
        _execute_with_progress(evals, run_id)
        score = score_run(evals.database, run_id, RewardWeights.from_settings(settings))
    console.print(
        f"run {run_id}: {score.num_episodes} episodes, pass rate {score.pass_rate:.1%}, valid "
        f"calls {score.valid_call_rate:.1%}, mean reward {score.mean_reward:.3f}; train with: "
        f"huijin train rl --from-run {run_id} --out DIR",
        highlight=False,
        soft_wrap=True,
    )


def _execute_with_progress(evals: Any, run_id: str) -> None:
    summary = evals.run(run_id)
    tally = {"done": summary.num_done, "correct": summary.num_correct}
    with LoggedProgress(*progress_columns("info"), console=err_console) as progress:
        task = progress.add_task(
            summary.name, total=summary.num_examples, completed=tally["done"], info=""
        )

        def on_result(finished: Any) -> None:
            tally["done"] += 1
            tally["correct"] += int(finished.correct)
            info = f"pass {tally['correct'] / tally['done']:.0%}"
            progress.update(task, advance=1, info=info)

        evals.execute(run_id, on_result=on_result)


@train_app.command("sft")
@resumable_user_errors
def sft_command(
    out: Out,
    from_run: FromRun = None,
    model: Model = None,
    lora: Lora = True,
    resume: Resume = False,
    epochs: Epochs = 2,
    max_steps: MaxSteps = None,
    lr: Lr = None,
    max_length: MaxLength = 3072,
    grad_accum: GradAccum = 4,
    checkpoint_every: CheckpointEvery = 10,
) -> None:
    """SFT warm start: imitate the run's successful episodes only (rejection sampling)."""
    options = {"lora": lora, "num_epochs": epochs, "max_steps": max_steps, "learning_rate": lr}
    options |= {"max_length": max_length, "grad_accum_steps": grad_accum}
    _train("sft", from_run, out, model, resume, options | {"checkpoint_every": checkpoint_every})


@train_app.command("rl")
@resumable_user_errors
def rl_command(
    out: Out,
    from_run: FromRun = None,
    model: Model = None,
    lora: Lora = True,
    resume: Resume = False,
    epochs: Epochs = 1,
    max_steps: MaxSteps = None,
    lr: Lr = None,
    max_length: MaxLength = 3072,
    grad_accum: GradAccum = 4,
    checkpoint_every: CheckpointEvery = 10,
    kl_beta: Annotated[float, typer.Option(help="KL penalty weight to the start model.")] = 0.04,
    clip_eps: Annotated[float, typer.Option(help="PPO clip range of the token ratio.")] = 0.2,
    no_std: Annotated[
        bool, typer.Option("--no-std", help="Advantages r - mean, not scaled by the group std.")
    ] = False,
) -> None:
    """GRPO on the run's logged episodes: group-relative advantages, clipped token ratio against
    the logged logprobs, KL to the start model, loss on model-written tokens only."""
    options = {"lora": lora, "num_epochs": epochs, "max_steps": max_steps, "learning_rate": lr}
    options |= {"max_length": max_length, "grad_accum_steps": grad_accum, "kl_beta": kl_beta}
    options |= {"clip_eps_low": clip_eps, "clip_eps_high": clip_eps}
    options |= {"scale_advantages_by_std": not no_std, "checkpoint_every": checkpoint_every}
    _train("rl", from_run, out, model, resume, options)


def _train(
    objective: str,
    run_id: str | None,
    out: Path,
    model: str | None,
    resume: bool,
    options: dict[str, Any],
) -> None:
    from core.db.session import open_database
    from model.training.api import TrainConfig, resolve_model_dir, train
    from model.training.rewards import RewardWeights

    settings = load_settings()
    config = TrainConfig(objective=objective, **options)
    source = None if resume else resolve_model_dir(model or settings.model, settings.cache_dir)
    database = open_database(settings.resolved_database_url())
    # The bar starts once the data is checked, so a refused run prints only its error line.
    progress = LoggedProgress(*progress_columns("info"), console=err_console)
    task = progress.add_task(f"{objective} -> {out.name}", total=None, info="")

    is_main = os.environ.get("RANK", "0") == "0"  # launched as N processes, one of them talks

    def on_data(data: Any) -> None:
        if is_main:
            _print_data(data.summary())
            progress.start()

    def on_step(metrics: Any, total: int) -> None:
        progress.update(task, completed=metrics.step, total=total, info=_step_info(metrics))

    try:
        result = train(
            database,
            run_id,
            out,
            config,
            source,
            RewardWeights.from_settings(settings),
            resume=resume,
            on_data=on_data,
            on_step=on_step,
        )
    finally:
        progress.stop()
        database.close()
    if not is_main:
        return
    resumed = f" (resumed at step {result.resumed_from_step})" if result.resumed_from_step else ""
    console.print(
        f"{result.steps} steps{resumed}, {result.num_tokens} trained tokens, "
        f"{result.seconds:.0f} s; curves: {result.plot}; use it: HUIJIN_MODEL={out}",
        highlight=False,
        soft_wrap=True,
    )


def _print_data(summary: dict[str, Any]) -> None:
    err_console.print(
        f"{summary['trajectories_used']}/{summary['trajectories']} episodes -> "
        f"{summary['sequences']} sequences, {summary['completion_tokens']} completion tokens; "
        f"skipped: {summary['turns_skipped_too_long']} turns too long, "
        f"{summary['sequences_skipped_zero_advantage']} sequences without signal",
        highlight=False,
        soft_wrap=True,
    )


def _step_info(metrics: Any) -> str:
    text = f"loss {metrics.loss:.4f}"
    if metrics.clip_fraction is not None:  # rl
        text += f" reward {metrics.reward:.3f} clip {metrics.clip_fraction:.2f}"
    return text + (f" kl {metrics.kl:.4f}" if metrics.kl is not None else "")


@train_app.command("loop")
@resumable_user_errors
def loop_command(
    iterations: Annotated[int, typer.Option(help="Collect -> train -> evaluate rounds (K).")],
    out: Out,
    model: Model = None,
    suite: Annotated[str, typer.Option(help="Benchmark (tooluse).")] = "tooluse",
    group: Annotated[int, typer.Option(help="Episodes per training question (G).")] = 8,
    limit: Annotated[int | None, typer.Option(help="Training questions per round.")] = 32,
    dev_limit: Annotated[int | None, typer.Option(help="Dev questions scored per model.")] = None,
    concurrency: Annotated[int, typer.Option(help="Episodes run (and batched) at once.")] = 8,
    data: Annotated[Path | None, typer.Option(help="Suite data (default: the snapshot).")] = None,
    lora: Lora = True,
    epochs: Epochs = 1,
    max_steps: MaxSteps = None,
    lr: Lr = None,
    max_length: MaxLength = 3072,
    grad_accum: GradAccum = 4,
    resume: Resume = False,
) -> None:
    """K rounds of: collect on the train split with the best model so far, GRPO, evaluate on the
    dev split (greedy); the best model is kept in OUT/best."""
    from core.db.session import open_database
    from evals.api import resolve_data
    from evals.rollouts import RolloutSpec, SuiteRollouts
    from model.training.api import TrainConfig, resolve_model_dir
    from model.training.loop import run_loop
    from model.training.rewards import RewardWeights

    settings = load_settings()
    start = resolve_model_dir(model or settings.model, settings.cache_dir)
    train_path, _ = resolve_data(settings, suite, "train", data)
    common = {"data": train_path, "benchmark": suite, "concurrency": concurrency}
    collect = RolloutSpec(
        split="train", group=group, limit=limit, temperature=settings.train_temperature, **common
    )
    evaluate = RolloutSpec(split="dev", group=1, limit=dev_limit, temperature=0.0, **common)
    weights = RewardWeights.from_settings(settings)
    config = TrainConfig(
        objective="rl",
        lora=lora,
        num_epochs=epochs,
        max_steps=max_steps,
        learning_rate=lr,
        max_length=max_length,
        grad_accum_steps=grad_accum,
    )
    database = open_database(settings.resolved_database_url())
    try:
        result = run_loop(
            database,
            SuiteRollouts(settings, collect, evaluate, weights),
            out,
            iterations,
            config,
            start,
            weights,
            resume=resume,
            on_event=_print_event,
        )
    finally:
        database.close()
    where = (
        f"HUIJIN_MODEL={result.best_dir}" if result.best_dir else "no round beat the start model"
    )
    console.print(
        f"loop done: {where}; history in {out / 'loop.json'}", highlight=False, soft_wrap=True
    )


def _print_event(kind: str, info: dict[str, Any]) -> None:
    if kind == "scored":
        best = " (best so far)" if info.get("is_best") else ""
        err_console.print(
            f"round {info['iteration']}: dev pass {info['pass_rate']:.1%}, valid calls "
            f"{info['valid_call_rate']:.1%}{best}",
            highlight=False,
        )
    elif kind == "skipped":
        err_console.print(
            f"round {info['iteration']}: no update ({info['reason']})",
            highlight=False,
            soft_wrap=True,
        )
    else:
        err_console.print(f"round {info['iteration']}: {kind} ...", highlight=False, soft_wrap=True)

"""`huijin kv ...`: NQKV's normality evidence and quality benchmark (registered as `kv`).

Every user-facing failure is one red line and exit code 1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

kv_app = typer.Typer(
    help="NQKV KV-cache quantization: normality analysis and quality benchmark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

ModelOption = Annotated[
    str, typer.Option("--model", help="smollm2 (embedded), gemma, or a checkpoint path / .gguf.")
]


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def _benchmarks_dir() -> Path | None:
    from core.settings import SettingsError, load_settings

    try:
        configured = load_settings().benchmarks_dir
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    if configured is not None:
        return configured
    guess = Path(os.getcwd()).parent / "shared" / "data" / "benchmarks"
    return guess if guess.is_dir() else None


def _load(model: str):  # -> (model, tokenizer, model_id)
    from model.nqkv.models import load_bench_model

    try:
        return load_bench_model(model)
    except Exception as exc:
        raise _fail(f"cannot load model {model!r}: {exc}") from None


@kv_app.command("analyze")
def analyze(
    model: ModelOption = "smollm2",
    num_tokens: Annotated[int, typer.Option(help="Tokens of FinQA text to run.")] = 1024,
    block_size: Annotated[int, typer.Option(help="Block size to test.")] = 64,
    bits: Annotated[int, typer.Option(help="Codebook width for the code-usage entropy.")] = 2,
    out: Annotated[Path, typer.Option(help="Directory for the JSON and QQ-plot PNG.")] = Path(
        "nqkv_analyze"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON summary.")] = False,
) -> None:
    """Check the paper's premise: are KV-cache blocks of a real model close to normal?"""
    from model.nqkv.analyze import analyze_cache, kv_of_text, qq_plot, summarise
    from model.nqkv.corpus import load_texts

    if bits not in (2, 3, 4) or block_size < 8:
        raise _fail("use --bits 2, 3 or 4 and a --block-size of at least 8")
    loaded, tokenizer, model_id = _load(model)
    texts, _ = load_texts(_benchmarks_dir(), tokenizer, num_tokens, prompt_tokens=8)
    text_name, ids = next(iter(texts.items()))
    layers = kv_of_text(loaded, ids)
    try:
        rows = analyze_cache(layers, bits=bits, block_size=block_size)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    summary = summarise(rows)
    png = qq_plot(layers, out / "qq.png", block_size=block_size)
    report = {"model": model_id, "text": text_name, "tokens": int(ids.shape[1]), "bits": bits}
    report |= {"block_size": block_size, "summary": summary, "layers": rows, "qq_plot": str(png)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "analyze.json").write_text(json.dumps(report, indent=1))
    if as_json:
        print(json.dumps({k: v for k, v in report.items() if k != "layers"}, indent=1))
        return
    table = Table(title=f"{model_id}: block-standardised KV ({text_name}, {ids.shape[1]} tokens)")
    for column in ("side/grouping", "skew", "excess kurt.", "normal share", "|mean|/std",
                   "outlier ch.", f"NF{bits} code bits"):  # fmt: skip
        table.add_column(column)
    for name, stats in summary.items():
        table.add_row(
            name,
            f"{stats['skew']:+.2f}",
            f"{stats['excess_kurtosis']:+.2f}",
            f"{stats['normal_share']:.2f}",
            f"{stats['mean_offset']:.2f}",
            f"{stats['outlier_ratio']:.1f}",
            f"{stats['code_use_bits']:.2f}",
        )
    console.print(table)
    console.print(f"per-layer JSON: {out / 'analyze.json'}; QQ plot: {png}")


@kv_app.command("bench")
def bench(
    model: ModelOption = "smollm2",
    num_tokens: Annotated[int, typer.Option(help="Tokens per text.")] = 1024,
    residual: Annotated[int, typer.Option(help="Full-precision window (tokens).")] = 128,
    bits: Annotated[str, typer.Option(help="Comma-separated code widths.")] = "2,3,4",
    methods: Annotated[str | None, typer.Option(help="Comma-separated subset.")] = None,
    greedy_prompt: Annotated[int, typer.Option(help="Greedy-agreement prompt tokens.")] = 384,
    greedy_new: Annotated[int, typer.Option(help="Greedy tokens compared with fp16.")] = 24,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Perplexity, KL vs fp16, SQNR, bytes/token and greedy agreement of NQKV and its peers."""
    from model.nqkv.bench import BenchConfig, run_bench
    from model.nqkv.corpus import load_calibration, load_texts
    from model.nqkv.report import markdown_report

    try:
        config = BenchConfig(
            num_tokens=num_tokens,
            residual_tokens=residual,
            bits=tuple(int(b) for b in bits.split(",")),
            greedy_prompt_tokens=greedy_prompt,
            greedy_new_tokens=greedy_new,
            **({"methods": tuple(methods.split(","))} if methods else {}),
        )
    except ValueError:
        raise _fail("--bits takes comma-separated integers, e.g. 2,4") from None
    unknown = set(config.methods) - set(BenchConfig().methods)
    if unknown or not set(config.bits) <= {2, 3, 4} or num_tokens < 64 or greedy_new < 1:
        raise _fail(
            f"use --bits from 2,3,4, --num-tokens >= 64, --greedy-new >= 1 and --methods from "
            f"{','.join(BenchConfig().methods)}"
            + (f" (unknown: {sorted(unknown)})" if unknown else "")
        )
    loaded, tokenizer, model_id = _load(model)
    benchmarks_dir = _benchmarks_dir()
    texts, prompt = load_texts(
        benchmarks_dir, tokenizer, config.num_tokens, config.greedy_prompt_tokens
    )
    calibration = load_calibration(benchmarks_dir, tokenizer, 512)
    log = (lambda m: err_console.print(m, highlight=False)) if as_json else console.print
    try:
        result = run_bench(loaded, texts, prompt, config, log=log, calibration_ids=calibration)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    result["model_id"] = model_id
    report = {"command": "huijin kv bench", "platform": "cpu", "models": {model: result}}
    if as_json:
        print(json.dumps(report, indent=1))
    else:
        console.print(markdown_report(report), markup=False)

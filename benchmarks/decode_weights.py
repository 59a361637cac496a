"""What each `decode_weights` choice costs in quality and buys in speed, side by side in one run.

The fast decode step can stream the exact float32 weights, an fbgemm float16 copy, or int8 codes
with a scale per 32 input channels (model/engine/cpu_kernels). Each choice decodes the same real
text teacher-forced (FinQA filing excerpts and GSM8K questions, the NQKV corpus) one token a step
through the engine's own runner, against the plain transformers forward in float32:
- KL(p_ref || p) per token, perplexity, top-1 agreement with the reference;
- greedy agreement: 64 greedy tokens from a FinQA prompt, share equal to the reference's;
- speed: a single-row decode step (median ms over the text), and weight bytes streamed per step.

    .venv/bin/python benchmarks/decode_weights.py              # 512 tokens per text
    .venv/bin/python benchmarks/decode_weights.py --tokens 128 # quick look

Writes benchmarks/results/decode_weights.json and .md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from core.settings import load_settings
from model.engine import cpu_kernels
from model.engine.checkpoint import load_checkpoint, resolve_source
from model.engine.fast_decode import DECODE_WEIGHTS
from model.engine.kv_cache import KVCacheKind, PreallocatedKVCacheKind
from model.engine.runner import ModelRunner
from model.nqkv.corpus import load_texts

RESULTS = Path(__file__).parent / "results"
PREFIX_TOKENS = 32  # prefilled; every later token is one decode step
GREEDY_TOKENS = 64


def teacher_forced(runner: ModelRunner, ids: list[int]) -> tuple[torch.Tensor, list[float]]:
    """Next-token logits (len(ids) - PREFIX_TOKENS, vocab) and the time of each decode step."""
    logits, batch = runner.prefill(ids[:PREFIX_TOKENS])
    rows, times = [logits], []
    for token in ids[PREFIX_TOKENS:-1]:
        started = time.perf_counter()
        rows.append(runner.decode(batch, [token])[0])
        times.append(time.perf_counter() - started)
    return torch.stack(rows).float(), times


def greedy(runner: ModelRunner, prompt: list[int]) -> list[int]:
    logits, batch = runner.prefill(prompt)
    tokens = [int(logits.argmax())]
    for _ in range(GREEDY_TOKENS - 1):
        tokens.append(int(runner.decode(batch, [tokens[-1]])[0].argmax()))
    return tokens


def compare(logits: torch.Tensor, reference: torch.Tensor, targets: torch.Tensor) -> dict:
    log_p, log_ref = torch.log_softmax(logits, -1), torch.log_softmax(reference, -1)
    rows = torch.arange(len(targets))
    return {
        "kl": float((log_ref.exp() * (log_ref - log_p)).sum(-1).mean()),
        "perplexity": math.exp(float(-log_p[rows, targets].mean())),
        "reference_perplexity": math.exp(float(-log_ref[rows, targets].mean())),
        "top1_agreement": float((logits.argmax(-1) == reference.argmax(-1)).float().mean()),
    }


def make_runner(checkpoint: Path, decode_weights: str | None) -> ModelRunner:
    """A fresh model (the fast path re-lays out its weights); None = the transformers forward."""
    model, _ = load_checkpoint(checkpoint, torch.float32, "cpu")
    if decode_weights is None:
        return ModelRunner(model, KVCacheKind())
    return ModelRunner(
        model, PreallocatedKVCacheKind(), fast_decode=True, decode_weights=decode_weights
    )


def streamed_bytes(runner: ModelRunner) -> int:
    """Weight bytes one decode step reads: the decode copies, or the float32 weights."""
    decoder = runner.fast_decoder
    assert decoder is not None
    if decoder.decode_weights == "float32":
        return sum(p.out_in.numel() * 4 for p in decoder.projections)
    return decoder.packed_bytes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=512, help="tokens of each text")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    settings = load_settings()
    source = resolve_source(None, settings.cache_dir)
    cpu_kernels.load(settings.cache_dir)
    reference = make_runner(source.checkpoint_dir, None)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.checkpoint_dir)
    texts, prompt = load_texts(settings.benchmarks_dir, tokenizer, args.tokens, 256)
    text_ids = {name: ids[0].tolist() for name, ids in texts.items()}
    prompt_ids = prompt[0].tolist()
    ref_logits = {name: teacher_forced(reference, ids)[0] for name, ids in text_ids.items()}
    ref_greedy = greedy(reference, prompt_ids)

    rows: dict[str, Any] = {}
    for choice in DECODE_WEIGHTS:
        runner = make_runner(source.checkpoint_dir, choice)
        assert runner.fast_decoder is not None and runner.fast_decoder.decode_weights == choice
        row: dict[str, Any] = {"bytes_per_step": streamed_bytes(runner), "texts": {}}
        step_times: list[float] = []
        for name, ids in text_ids.items():
            logits, times = teacher_forced(runner, ids)
            step_times += times
            targets = torch.tensor(ids[PREFIX_TOKENS:])
            row["texts"][name] = compare(logits, ref_logits[name], targets)
        tokens = greedy(runner, prompt_ids)
        row["greedy_agreement"] = (
            sum(a == b for a, b in zip(tokens, ref_greedy, strict=True)) / GREEDY_TOKENS
        )
        row["step_ms"] = 1000 * statistics.median(step_times)
        rows[choice] = row
        print(choice, json.dumps(row, indent=None))

    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
        },
        "torch": torch.__version__,
        "model": source.model_id,
        "tokens_per_text": args.tokens,
        "decode_weights": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "decode_weights.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "decode_weights.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict[str, Any]) -> str:
    rows = result["decode_weights"]
    names = list(next(iter(rows.values()))["texts"])
    base = rows["float32"]["step_ms"]
    lines = [
        "# Decode weights: quality against the float32 transformers forward, and speed",
        "",
        f"{result['date']} · {result['model']} · torch {result['torch']} · "
        f"{result['machine']['threads']} threads · {result['tokens_per_text']} tokens per text, "
        "teacher-forced, one decode step a token",
        "",
        "| decode_weights | "
        + " | ".join(f"KL {n}" for n in names)
        + " | "
        + " | ".join(f"ppl {n} (ref)" for n in names)
        + " | top-1 agreement | greedy agreement (64) | MB streamed / step | step (ms) | speed-up |",
        "|---|" + "---:|" * (2 * len(names) + 5),
    ]
    for choice, row in rows.items():
        texts = row["texts"]
        kl = " | ".join(f"{texts[n]['kl']:.1e}" for n in names)
        ppl = " | ".join(
            f"{texts[n]['perplexity']:.3f} ({texts[n]['reference_perplexity']:.3f})" for n in names
        )
        top1 = statistics.mean(texts[n]["top1_agreement"] for n in names)
        lines.append(
            f"| {choice} | {kl} | {ppl} | {top1:.3f} | {row['greedy_agreement']:.2f} | "
            f"{row['bytes_per_step'] / 1e6:.0f} | {row['step_ms']:.1f} | "
            f"{base / row['step_ms']:.2f}x |"
        )
    lines += [
        "",
        "KL and agreement are against the plain transformers forward in float32 (the engine's "
        "`fast_decode=False` path); the float32 row is the fused step with the exact weights. "
        "Step time is the median single-row decode step over the texts, in this one process.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

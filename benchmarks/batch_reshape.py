"""Continuous batching's two reshapes of the KV cache, on SmolLM2-135M's cache shapes.

Every request that joins the running batch merges its cache into it, and every request that
finishes is selected out, so with short requests (AR-Sampling's steps, agent turns) the scheduler
reshapes the whole batch cache many times a second. The preallocated cache (the default) now
writes each kept token once into new buffers with room to grow; the generic dense path it used
before pads, concatenates and then copies into a buffer (merge), or gathers and then copies
(select). Both run here on the same tensors, alternating, and must give equal caches.

    python benchmarks/batch_reshape.py      # ~1 min

Writes benchmarks/results/batch_reshape.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig

from model.engine.kv_cache import PreallocatedKVCacheKind, _merge_dense, _select_dense

RESULTS = Path(__file__).parent / "results"
# SmolLM2-135M: 30 layers, 3 KV heads of 64; the CPU engine keeps its cache in float32.
CONFIG = LlamaConfig(
    hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3
)
HEADS, HEAD_DIM = 3, 64


def batch_of(kind: PreallocatedKVCacheKind, lengths: list[int], seed: int) -> tuple[Any, Any]:
    """A running batch: rows of `lengths` tokens, left-padded to the longest."""
    generator = torch.Generator().manual_seed(seed)
    parts = []
    for length in lengths:
        tensors = [
            (
                torch.randn(1, HEADS, length, HEAD_DIM, generator=generator),
                torch.randn(1, HEADS, length, HEAD_DIM, generator=generator),
            )
            for _ in range(CONFIG.num_hidden_layers)
        ]
        parts.append((kind.build(CONFIG, tensors), torch.ones(1, length, dtype=torch.long)))
    return _merge_dense(kind, CONFIG, parts) if len(parts) > 1 else parts[0]


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def same(kind: PreallocatedKVCacheKind, first: Any, second: Any) -> bool:
    (cache_a, mask_a), (cache_b, mask_b) = first, second
    return torch.equal(mask_a, mask_b) and all(
        torch.equal(ka, kb) and torch.equal(va, vb)
        for (ka, va), (kb, vb) in zip(kind.tensors(cache_a), kind.tensors(cache_b), strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=16, help="rows in the running batch")
    parser.add_argument("--tokens", type=int, default=1000, help="mean tokens a row")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS / "batch_reshape.json")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    kind = PreallocatedKVCacheKind()
    spread = args.tokens // 2
    lengths = [args.tokens - spread + (i * 2 * spread) // args.rows for i in range(args.rows)]
    running = batch_of(kind, lengths[:-1], seed=0)
    joining = batch_of(kind, lengths[-1:], seed=1)
    full = batch_of(kind, lengths, seed=2)
    keep = [row for row in range(args.rows) if row != args.rows - 1]  # the longest row leaves
    cases = {
        f"merge: {args.rows - 1} rows + 1 joining": (
            lambda: _merge_dense(kind, CONFIG, [running, joining]),
            lambda: kind.merge(CONFIG, [running, joining]),
        ),
        f"select: {args.rows - 1} of {args.rows} rows stay": (
            lambda: _select_dense(kind, CONFIG, full[0], full[1], keep),
            lambda: kind.select(CONFIG, full[0], full[1], keep),
        ),
    }
    rows = []
    for name, (before, after) in cases.items():
        timings: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.repeats):  # alternate, so drift hits both alike
            seconds, old = timed(before)
            timings["before"].append(seconds)
            seconds, new = timed(after)
            timings["after"].append(seconds)
        old_s, new_s = statistics.median(timings["before"]), statistics.median(timings["after"])
        rows.append(
            {
                "case": name,
                "before_ms": round(1000 * old_s, 2),
                "after_ms": round(1000 * new_s, 2),
                "speedup": round(old_s / new_s, 2),
                "equal": same(kind, old, new),
            }
        )
    cache_mb = sum(length for length in lengths) * CONFIG.num_hidden_layers * 2 * HEADS * HEAD_DIM
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}",
        "load_average": os.getloadavg()[0],
        "rows": args.rows,
        "row_tokens": lengths,
        "cache_mib": round(cache_mb * 4 / 2**20, 1),
        "repeats": args.repeats,
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Batch reshape: merge and select of the preallocated KV cache",
        "",
        f"{result['date']} · {result['machine']} · load average {result['load_average']:.2f} · "
        f"SmolLM2-135M cache shapes (30 layers x 3 KV heads x 64, float32), {args.rows} rows of "
        f"{min(lengths)}-{max(lengths)} tokens ({result['cache_mib']} MiB); median of "
        f"{args.repeats}, alternating",
        "",
        "| case | before: dense path (ms) | after: one copy (ms) | speedup | equal caches |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['before_ms']:.1f} | {row['after_ms']:.1f} "
            f"| {row['speedup']:.2f}x | {'yes' if row['equal'] else 'NO'} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Resident KV tokens under vLLM with the NQKV plugin vs vLLM's fp16 cache, for a fixed budget.

    make test-vllm   # once: installs the vllm wheel (CPU is enough; nothing runs on a GPU)
    .venv/bin/python benchmarks/nqkv_vllm_capacity.py [--budget-gib 16] [--out DIR]

For a few real attention shapes, builds each layer's KV-cache spec as vLLM's runner does (through
NQKVAttentionBackend.customize_spec for nqkv4/nqkv2) and counts the blocks vLLM would allocate
from the budget (model.nqkv.vllm_plugin.capacity). Pure arithmetic on vLLM's spec classes: no
model, no GPU. Writes nqkv_vllm_capacity.json and nqkv_vllm_capacity.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from model.nqkv.vllm_plugin import register
from model.nqkv.vllm_plugin.capacity import kv_capacity

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BLOCK_SIZE = 16  # vLLM's default
# name -> (layers, KV heads, head size), from each model's config.json
SHAPES = {
    "SmolLM2-135M": (30, 3, 64),
    "Qwen2.5-7B": (28, 4, 128),
    "Llama-3-8B": (32, 8, 128),
}
FORMATS = ("fp16", "nqkv4", "nqkv2")


def measure(budget_gib: float) -> list[dict]:
    budget = int(budget_gib * 2**30)
    rows = []
    for model, (num_layers, num_kv_heads, head_size) in SHAPES.items():
        shape = {"num_layers": num_layers, "num_kv_heads": num_kv_heads, "head_size": head_size}
        results = {
            name: kv_capacity(name, **shape, block_size=BLOCK_SIZE, budget_bytes=budget)
            for name in FORMATS
        }
        for name, result in results.items():
            rows.append(
                {
                    "model": model,
                    **shape,
                    "block_size": BLOCK_SIZE,
                    "kv_cache": name,
                    "page_bytes": result.page_bytes,
                    "num_blocks": result.num_blocks,
                    "resident_tokens": result.num_tokens,
                    "tokens_vs_fp16": result.num_tokens / results["fp16"].num_tokens,
                }
            )
    return rows


def markdown(rows: list[dict], budget_gib: float) -> str:
    lines = [
        f"Resident KV tokens in a {budget_gib:g} GiB KV-cache budget, as vLLM 0.33 plans pages "
        f"(block {BLOCK_SIZE} tokens; benchmarks/nqkv_vllm_capacity.py).",
        "",
        "| model | kv cache | page bytes | blocks | resident tokens | vs fp16 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['kv_cache']} | {row['page_bytes']:,} | {row['num_blocks']:,}"
            f" | {row['resident_tokens']:,} | {row['tokens_vs_fp16']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-gib", type=float, default=16.0, help="KV-cache memory budget")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for the results")
    args = parser.parse_args()
    register()  # the nqkv kv-cache dtypes, as vLLM's plugin loader would
    rows = measure(args.budget_gib)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"budget_gib": args.budget_gib, "vllm": _vllm_version(), "rows": rows}
    (args.out / "nqkv_vllm_capacity.json").write_text(json.dumps(payload, indent=2) + "\n")
    table = markdown(rows, args.budget_gib)
    (args.out / "nqkv_vllm_capacity.md").write_text(table)
    print(table)


def _vllm_version() -> str:
    from importlib.metadata import version

    return version("vllm")


if __name__ == "__main__":
    main()

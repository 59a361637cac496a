"""NQKV Triton kernels vs fp16 attention: decode latency, HBM bandwidth, store rate, capacity.

    .venv/bin/python benchmarks/nqkv_kernels.py            # GPU: full run (~3-5 min on an H100)
    .venv/bin/python benchmarks/nqkv_kernels.py --quick    # smoke run
    .venv/bin/python benchmarks/nqkv_kernels.py --out DIR  # where the JSON and markdown go

Random data of Llama-3-8B's attention shape (8 KV heads, 32 query heads, head_dim 128; one layer
timed, 32 layers for capacity). Without CUDA it runs the kernels in triton's CPU interpreter on
small shapes for correctness only and makes no timing claims. Needs only torch, triton and this
repo. Writes nqkv_kernels.json and nqkv_kernels.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _nqkv_kernels_report import machine_info, markdown

from model.nqkv.kernels import (
    PagedNQKVLayout,
    nqkv_decode_attention,
    nqkv_store,
    reference_decode_attention,
    reference_store,
)
from model.nqkv.kernels.decode import DecodeTile

BENCHMARKS_DIR = Path(__file__).resolve().parent
SHAPE = {
    "name": "Llama-3-8B",
    "num_layers": 32,
    "num_kv_heads": 8,
    "num_heads": 32,
    "head_size": 128,
    "group_size": 64,
    "block_size": 16,
}
SECTIONS = ("decode", "store", "tiles")
CONTEXTS = (1024, 4096, 16384, 32768, 65536, 131072)
BATCHES = (1, 8, 32)
# Every (dequant table, tokens a loop, warps, pipeline stages) the sweep times; the default first.
TILES = (
    DecodeTile(),
    *(
        DecodeTile(block_n, warps, stages, lut)
        for lut, block_n, warps, stages in itertools.product(
            ("byte", "code"), (32, 64, 128), (2, 4, 8), (1, 2)
        )
        if DecodeTile(block_n, warps, stages, lut) != DecodeTile()
    ),
)


def layout(bits: int, num_kv_heads: int | None = None) -> PagedNQKVLayout:
    return PagedNQKVLayout(
        bits,
        SHAPE["head_size"],
        SHAPE["group_size"],
        num_kv_heads or SHAPE["num_kv_heads"],
        SHAPE["block_size"],
    )


def resident_tokens(budget_gib: float) -> dict[str, Any]:
    """Tokens of all layers that fit the budget, counted in whole pages."""
    budget = int(budget_gib * 2**30)
    pages = {
        "fp16": layout(4).fp16_page_bytes,
        "nqkv4": layout(4).page_bytes,
        "nqkv2": layout(2).page_bytes,
    }
    out: dict[str, Any] = {"budget_gib": budget_gib}
    for name, page in pages.items():
        out[name] = budget // (page * SHAPE["num_layers"]) * SHAPE["block_size"]
        out[f"bytes_per_token_{name}"] = page * SHAPE["num_layers"] // SHAPE["block_size"]
    for name in pages:
        out[f"ratio_{name}"] = out[name] / out["fp16"]
    return out


def paged_copy(
    key: torch.Tensor, value: torch.Tensor, bits: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(batch, context, kv heads, head) K/V -> a paged NQKV cache in random block order, its
    block table, and the slot mapping that wrote it."""
    batch, context, num_kv_heads, _ = key.shape
    paged = layout(bits, num_kv_heads)
    max_blocks = -(-context // paged.block_size)
    gen = torch.Generator(device=key.device).manual_seed(seed)
    block_table = torch.randperm(batch * max_blocks, device=key.device, generator=gen)
    block_table = block_table.reshape(batch, max_blocks).to(torch.int32)
    positions = torch.arange(context, device=key.device)
    slots = block_table[:, positions // paged.block_size].long() * paged.block_size
    slots = (slots + positions % paged.block_size).flatten()
    cache = torch.zeros(paged.cache_shape(batch * max_blocks), dtype=torch.uint8, device=key.device)
    flat = (batch * context, num_kv_heads, paged.head_size)
    nqkv_store(key.reshape(flat), value.reshape(flat), cache, slots, paged)
    return cache, block_table, slots


def time_us(fn: Callable[[], object], quick: bool) -> float:
    """Median latency by triton's do_bench (CUDA events, L2 flushed between calls)."""
    import triton.testing

    return 1e3 * triton.testing.do_bench(
        fn, warmup=10, rep=30 if quick else 100, return_mode="median"
    )


def fp16_methods(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
) -> dict[str, Callable]:
    """torch SDPA over a contiguous (batch, context, kv heads, head) fp16 cache, with GQA."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q = query.unsqueeze(2)  # (batch, heads, 1, head)
    k, v = key.transpose(1, 2), value.transpose(1, 2)  # (batch, kv heads, context, head)

    def sdpa() -> torch.Tensor:
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)

    def flash() -> torch.Tensor:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)

    return {"fp16_sdpa": sdpa, "fp16_flash": flash}


def bench_shape(batch: int, context: int, quick: bool, peak: float | None) -> list[dict]:
    shape = (batch, context, SHAPE["num_kv_heads"], SHAPE["head_size"])
    fp16_bytes = 2 * batch * context * SHAPE["num_kv_heads"] * SHAPE["head_size"] * 2
    base = {"batch": batch, "context": context}
    if fp16_bytes * 1.6 > torch.cuda.mem_get_info()[0]:
        return [{**base, "method": "all", "skipped": "not enough GPU memory"}]
    key = torch.randn(shape, device="cuda", dtype=torch.float16)
    value = torch.randn(shape, device="cuda", dtype=torch.float16)
    query = torch.randn(batch, SHAPE["num_heads"], SHAPE["head_size"], device="cuda").half()
    scale = SHAPE["head_size"] ** -0.5
    rows = []
    for method, fn in fp16_methods(query, key, value).items():
        try:
            fn()
            latency = time_us(fn, quick)
        except RuntimeError as error:  # e.g. no flash kernel for this GPU / shape
            rows.append({**base, "method": method, "skipped": str(error).splitlines()[0][:80]})
            continue
        rows.append({**base, "method": method, "latency_us": latency, "bytes_read": fp16_bytes})
    seq_lens = torch.full((batch,), context, dtype=torch.int32, device="cuda")
    for bits in (4, 2):
        cache, block_table, _ = paged_copy(key, value, bits)
        paged = layout(bits)
        args = (query, cache, block_table, seq_lens, paged, scale)
        out = nqkv_decode_attention(*args, max_seq_len=context)
        try:  # the float32 reference holds the whole dequantized cache
            error = (out.float() - reference_decode_attention(*args).float()).abs().max().item()
        except torch.OutOfMemoryError:
            error = None
            torch.cuda.empty_cache()
        latency = time_us(lambda a=args: nqkv_decode_attention(*a, max_seq_len=context), quick)
        nqkv_bytes = 2 * batch * context * paged.num_kv_heads * paged.row_bytes
        rows.append(
            {
                **base,
                "method": f"nqkv{bits}",
                "latency_us": latency,
                "bytes_read": nqkv_bytes,
                "max_abs_err": error,
            }
        )
        del cache
    fp16_best = min(
        (r["latency_us"] for r in rows if r["method"].startswith("fp16") and "latency_us" in r),
        default=None,
    )
    for row in rows:
        if "latency_us" in row:
            row["share_of_peak"] = (
                row["bytes_read"] / (row["latency_us"] * 1e-6) / peak if peak else None
            )
            if fp16_best is not None:
                row["speedup_vs_fp16"] = fp16_best / row["latency_us"]
    return rows


def bench_store(quick: bool) -> list[dict]:
    """Quantize-and-store rate for a decode step (batch 32) and a prefill chunk (8192 tokens)."""
    rows = []
    for bits in (4, 2):
        paged = layout(bits)
        for num_tokens in (32, 8192):
            shape = (num_tokens, paged.num_kv_heads, paged.head_size)
            key = torch.randn(shape, device="cuda", dtype=torch.float16)
            value = torch.randn(shape, device="cuda", dtype=torch.float16)
            num_blocks = -(-num_tokens // paged.block_size)
            slots = torch.randperm(num_blocks * paged.block_size, device="cuda")[:num_tokens]
            cache = torch.zeros(paged.cache_shape(num_blocks), dtype=torch.uint8, device="cuda")
            expected = cache.clone()
            nqkv_store(key, value, cache, slots, paged)
            reference_store(key, value, expected, slots, paged)
            latency = time_us(lambda a=(key, value, cache, slots, paged): nqkv_store(*a), quick)
            rows.append(
                {
                    "bits": bits,
                    "num_tokens": num_tokens,
                    "latency_us": latency,
                    "tokens_per_s": num_tokens / (latency * 1e-6),
                    "exact": torch.equal(cache, expected),
                }
            )
    return rows


def bench_tiles(quick: bool) -> list[dict]:
    """Decode latency of every TILES launch shape at batch 8, 32k context, 4 bits."""
    batch, context = 8, 32768
    shape = (batch, context, SHAPE["num_kv_heads"], SHAPE["head_size"])
    key = torch.randn(shape, device="cuda", dtype=torch.float16)
    cache, block_table, _ = paged_copy(key, key, 4)
    del key
    query = torch.randn(batch, SHAPE["num_heads"], SHAPE["head_size"], device="cuda").half()
    seq_lens = torch.full((batch,), context, dtype=torch.int32, device="cuda")
    args = (query, cache, block_table, seq_lens, layout(4), SHAPE["head_size"] ** -0.5)
    expected = nqkv_decode_attention(*args, max_seq_len=context).float()
    rows = []
    for tile in TILES:
        run = lambda t=tile: nqkv_decode_attention(*args, max_seq_len=context, tile=t)  # noqa: E731
        try:
            difference = (run().float() - expected).abs().max().item()
            latency = time_us(run, quick)
            rows.append(
                {"tile": str(tile), "latency_us": latency, "max_abs_diff_vs_default": difference}
            )
        except Exception as error:  # e.g. triton's OutOfResources: shared memory, registers
            rows.append({"tile": str(tile), "skipped": str(error).splitlines()[0][:80]})
    return rows


def interpreter_correctness() -> list[dict]:
    """CPU only: the kernels in triton's interpreter against the torch reference, small shapes."""
    os.environ["TRITON_INTERPRET"] = "1"  # read by model.nqkv.kernels at each launch
    rows = []
    for bits in (4, 2):
        paged = layout(bits, num_kv_heads=2)
        gen = torch.Generator().manual_seed(bits)
        seq_lens = [100, 37]
        num_tokens = sum(seq_lens)
        key = torch.randn(1, num_tokens, 2, paged.head_size, generator=gen).half()
        value = torch.randn(1, num_tokens, 2, paged.head_size, generator=gen).half()
        cache, block_table, slots = paged_copy(key, value, bits)
        expected = torch.zeros_like(cache)
        reference_store(key[0], value[0], expected, slots, paged)
        shape = f"{num_tokens} tokens x 2 kv heads x {paged.head_size}"
        rows.append(
            {
                "bits": bits,
                "check": "store bit-exact",
                "shape": shape,
                "result": str(torch.equal(cache, expected)),
            }
        )
        # Two sequences over the one cache's pages (in different orders); any page is valid.
        table = torch.stack([block_table[0, :7], block_table[0].flip(0)[:7]])
        lens = torch.tensor([100, 13], dtype=torch.int32)
        query = torch.randn(2, 8, paged.head_size, generator=gen).half()
        args = (query, cache, table, lens, paged, paged.head_size**-0.5)
        error = (
            (
                nqkv_decode_attention(*args, num_splits=3).float()
                - reference_decode_attention(*args).float()
            )
            .abs()
            .max()
            .item()
        )
        rows.append(
            {
                "bits": bits,
                "check": "decode max abs err vs torch (fp16)",
                "shape": "2 seqs (100, 13 tokens), 8 query heads, 3 splits",
                "result": f"{error:.2e}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="contexts 1k and 32k, batch 1 and 8")
    parser.add_argument("--out", type=Path, default=BENCHMARKS_DIR / "results", help="output dir")
    parser.add_argument("--budget-gib", type=float, default=40.0, help="KV memory for capacity")
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=SECTIONS,
        help="GPU sections to time (default: all)",
    )
    args = parser.parse_args(argv)
    timed = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if timed else "cpu (TRITON_INTERPRET=1)"
    command = "python benchmarks/nqkv_kernels.py" + (" --quick" if args.quick else "")
    if tuple(args.sections) != SECTIONS:
        command += " --sections " + " ".join(args.sections)
    payload: dict[str, Any] = {
        "device": device,
        "machine": machine_info(device),
        "timed": timed,
        "quick": args.quick,
        "command": command,
        "shape": SHAPE,
        "resident_tokens": resident_tokens(args.budget_gib),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "nqkv_kernels.json"

    def save() -> None:  # after every section, so a run cut short keeps what it measured
        json_path.write_text(json.dumps(payload, indent=2) + "\n")

    if timed:
        contexts = (1024, 32768) if args.quick else CONTEXTS
        batches = (1, 8) if args.quick else BATCHES
        peak = payload["machine"]["peak_hbm_bytes_per_s"]
        payload["decode"] = []
        for context in contexts if "decode" in args.sections else ():
            for batch in batches:
                payload["decode"] += bench_shape(batch, context, args.quick, peak)
                torch.cuda.empty_cache()
                save()
                print(f"decode batch {batch} context {context}: done", file=sys.stderr)
        if "store" in args.sections:
            payload["store"] = bench_store(args.quick)
            save()
        if "tiles" in args.sections:
            payload["tile_sweep"] = bench_tiles(args.quick)
    else:
        payload["correctness"] = interpreter_correctness()
    payload["complete"] = True
    save()
    report = markdown(payload, command)
    (args.out / "nqkv_kernels.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

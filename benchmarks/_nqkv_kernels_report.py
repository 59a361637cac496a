"""Machine info, HBM peaks and the markdown report of benchmarks/nqkv_kernels.py."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
from typing import Any

import torch

# Peak HBM bandwidth (bytes/s) by device-name substring, most specific first.
HBM_PEAKS = (
    ("H100 PCIe", 2.0e12),
    ("H100 NVL", 3.9e12),
    ("H200", 4.8e12),
    ("H100", 3.35e12),  # SXM (HBM3)
)
GOALS = {"speedup_32k": 2.5, "share_of_peak": 0.70, "resident_ratio": 3.5}


def peak_bandwidth(device_name: str) -> float | None:
    for key, peak in HBM_PEAKS:
        if key in device_name:
            return peak
    return None


def machine_info(device: str) -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "device": device,
        "peak_hbm_bytes_per_s": peak_bandwidth(device),
        "python": platform.python_version(),
        "versions": {"torch": torch.__version__, "triton": version("triton")},
        "cuda": torch.version.cuda,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _decode_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| batch | context | method | latency (µs) | speed-up vs fp16 | GB/s | % of peak | "
        "max abs err |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.get("skipped"):
            lines.append(
                f"| {row['batch']} | {row['context']} | {row['method']} | "
                f"skipped: {row['skipped']} | | | | |"
            )
            continue
        share = row.get("share_of_peak")
        lines.append(
            f"| {row['batch']} | {row['context']} | {row['method']} | "
            f"{_fmt(row['latency_us'])} | {_fmt(row.get('speedup_vs_fp16'), 2)} | "
            f"{_fmt(row['bytes_read'] / row['latency_us'] / 1e3)} | "
            f"{_fmt(None if share is None else 100 * share)} | "
            f"{_fmt(row.get('max_abs_err'), 5) if row.get('max_abs_err') is not None else '-'} |"
        )
    return lines


def _tile_row(row: dict[str, Any], default: float | None) -> str:
    if "skipped" in row:
        return f"| {row['tile']} | skipped: {row['skipped']} | |"
    ratio = f"{default / row['latency_us']:.2f}x" if default else "-"
    return f"| {row['tile']} | {_fmt(row['latency_us'])} | {ratio} |"


def _timed_sections(payload: dict[str, Any]) -> list[str]:
    """The GPU sections this run timed (`--sections` may leave some out)."""
    lines: list[str] = []
    if payload.get("decode"):
        lines += ["## Decode attention (one layer)", "", *_decode_table(payload["decode"]), ""]
        lines += [
            "fp16 rows read a contiguous (batch, context, kv heads, head_dim) cache through "
            "torch SDPA with GQA; NQKV rows read the paged cache (random block order). GB/s = "
            "K/V bytes read / latency.",
            "",
        ]
    if payload.get("store"):
        lines += [
            "## Quantize-and-store",
            "",
            "| bits | tokens a call | latency (µs) | tokens/s | bit-exact vs torch |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['bits']} | {r['num_tokens']} | {_fmt(r['latency_us'])} | "
            f"{_fmt(r['tokens_per_s'], 0)} | {r['exact']} |"
            for r in payload["store"]
        ]
        lines.append("")
    if sweep := payload.get("tile_sweep"):
        lines += [
            "## Decode tile sweep (NQKV-4, batch 8, 32k context; the first row is the default)",
            "",
            "| tile | latency (µs) | vs default |",
            "|---|---|---|",
        ]
        default = sweep[0].get("latency_us")
        lines += [_tile_row(row, default) for row in sweep]
        lines.append("")
    return lines


def _goal_lines(payload: dict[str, Any]) -> list[str]:
    rows = [r for r in payload["decode"] if not r.get("skipped")]
    at_32k = [r for r in rows if r["method"] == "nqkv4" and r["context"] == 32768]
    speedups = [r["speedup_vs_fp16"] for r in at_32k if r.get("speedup_vs_fp16")]
    shares = [r["share_of_peak"] for r in rows if r["method"] == "nqkv4" and r["share_of_peak"]]
    ratio = payload["resident_tokens"]["ratio_nqkv4"]
    lines = ["| goal | target | measured |", "|---|---|---|"]
    lines.append(
        f"| NQKV-4 decode speed-up vs fp16 at 32k | >= {GOALS['speedup_32k']}x | "
        f"{', '.join(f'{s:.2f}x' for s in speedups) or '-'} (per batch) |"
    )
    best = f"{100 * max(shares):.0f}% (best shape)" if shares else "-"
    lines.append(
        f"| NQKV-4 HBM bandwidth | >= {100 * GOALS['share_of_peak']:.0f}% of peak | {best} |"
    )
    lines.append(f"| resident tokens vs fp16 | >= {GOALS['resident_ratio']}x | {ratio:.2f}x |")
    return lines


def markdown(payload: dict[str, Any], command: str) -> str:
    machine = payload["machine"]
    shape = payload["shape"]
    lines = [
        "# NQKV Triton kernels",
        "",
        f"{machine['date']} · {machine['device']} · torch {machine['versions']['torch']} · "
        f"triton {machine['versions']['triton']}. Made by `{command}`.",
        f"Shapes: {shape['name']} ({shape['num_layers']} layers, {shape['num_kv_heads']} KV heads, "
        f"{shape['num_heads']} query heads, head_dim {shape['head_size']}); "
        f"{'one layer timed; ' if payload['timed'] else ''}"
        f"NQKV group {shape['group_size']}, page {shape['block_size']} tokens; random data.",
        "",
    ]
    if payload["timed"] and not payload.get("complete"):
        lines += ["**Partial run**: it stopped before every section was measured.", ""]
    if not payload["timed"]:
        lines += [
            "No GPU: the kernels ran in triton's CPU interpreter on small shapes, for correctness "
            "only. **No timing claims.**",
            "",
            "| bits | check | shape | result |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['bits']} | {r['check']} | {r['shape']} | {r['result']} |"
            for r in payload["correctness"]
        ]
        lines.append("")
    else:
        lines += _timed_sections(payload)
    resident = payload["resident_tokens"]
    lines += [
        f"## Tokens resident in {resident['budget_gib']} GiB of KV cache (all layers, from page bytes)",
        "",
        "| cache | bytes/token | tokens | vs fp16 |",
        "|---|---|---|---|",
    ]
    for name in ("fp16", "nqkv4", "nqkv2"):
        lines.append(
            f"| {name} | {resident[f'bytes_per_token_{name}']:,} | {resident[name]:,} | "
            f"{resident[f'ratio_{name}']:.2f}x |"
        )
    if payload.get("decode"):
        lines += ["", "## Goals", "", *_goal_lines(payload)]
    return "\n".join(lines) + "\n"

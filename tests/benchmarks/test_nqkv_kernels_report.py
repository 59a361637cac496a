"""The NQKV kernel benchmark's report: which sections a GPU run shows (`--sections` leaves some
out, a run cut short has no `complete`), the tile sweep's ratios and skipped shapes; and the
benchmark's CPU run end to end (the kernels in triton's interpreter, no timing claims)."""

from __future__ import annotations

import json

import pytest
import torch
from _nqkv_kernels_report import markdown
from nqkv_kernels import SHAPE, main, resident_tokens


def _timed_payload(**sections: object) -> dict:
    return {
        "device": "NVIDIA H200",
        "machine": {
            "device": "NVIDIA H200",
            "date": "2026-11-26T00:00:00+00:00",
            "versions": {"torch": "2.11", "triton": "3.6"},
        },
        "timed": True,
        "shape": SHAPE,
        "resident_tokens": resident_tokens(40.0),
        **sections,
    }


def test_a_tile_sweep_alone_shows_ratios_to_the_default_and_skipped_shapes() -> None:
    sweep = [
        {"tile": "default", "latency_us": 600.0},
        {"tile": "faster", "latency_us": 300.0},
        {"tile": "too big", "skipped": "out of resources: shared memory"},
    ]
    text = markdown(_timed_payload(decode=[], tile_sweep=sweep, complete=True), "cmd")
    assert "| default | 600.0 | 1.00x |" in text
    assert "| faster | 300.0 | 2.00x |" in text
    assert "| too big | skipped: out of resources: shared memory | |" in text
    # No decode rows: no decode table, no goals computed from nothing.
    assert "## Decode attention" not in text
    assert "## Quantize-and-store" not in text
    assert "## Goals" not in text
    assert "Partial run" not in text


def test_a_run_cut_short_says_so_and_keeps_its_decode_rows() -> None:
    row = {"batch": 8, "context": 32768, "bytes_read": 1e9}
    decode = [
        {**row, "method": "fp16_sdpa", "latency_us": 250.0, "share_of_peak": 0.8},
        {
            **row,
            "method": "nqkv4",
            "latency_us": 500.0,
            "share_of_peak": 0.1,
            "speedup_vs_fp16": 0.5,
        },
    ]
    text = markdown(_timed_payload(decode=decode), "cmd")
    assert "**Partial run**" in text
    assert "| 8 | 32768 | nqkv4 | 500.0 | 0.50 |" in text
    assert "| NQKV-4 decode speed-up vs fp16 at 32k | >= 2.5x | 0.50x (per batch) |" in text
    assert "## Decode tile sweep" not in text


def test_the_cpu_run_checks_the_kernels_and_claims_no_timings(tmp_path, monkeypatch) -> None:
    if torch.cuda.is_available():
        pytest.skip("with CUDA the benchmark times the GPU instead")
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # the CPU run sets it; restored after the test
    main(["--out", str(tmp_path)])
    payload = json.loads((tmp_path / "nqkv_kernels.json").read_text())
    assert payload["timed"] is False and payload["complete"] is True
    assert payload["command"] == "python benchmarks/nqkv_kernels.py"
    results = [row["result"] for row in payload["correctness"]]
    assert results[0::2] == ["True", "True"]  # store bit-exact, 4 and 2 bits
    assert all(float(error) < 1e-2 for error in results[1::2])  # decode vs the torch reference
    assert "**No timing claims.**" in (tmp_path / "nqkv_kernels.md").read_text()

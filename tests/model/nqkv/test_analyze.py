"""Normality statistics on synthetic caches whose answer is known, and the QQ plot file."""

from __future__ import annotations

import torch

from model.nqkv.analyze import analyze_cache, qq_plot, summarise


def test_gaussian_blocks_look_normal_and_offsets_show_up(tmp_path):
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(1, 2, 256, 64, generator=gen)
    keys += 3 * torch.randn(64, generator=gen)  # a mean per channel, as real keys have
    keys[..., 5] += 12.0  # and one outlier channel
    values = torch.randn(1, 2, 256, 64, generator=gen)
    summary = summarise(analyze_cache([(keys, values)], bits=2, block_size=64))
    normal = summary["values/channels"]
    assert abs(normal["skew"]) < 0.1 and abs(normal["excess_kurtosis"]) < 0.3
    assert normal["normal_share"] > 0.85
    assert summary["keys/channels"]["excess_kurtosis"] > 3  # the outlier dominates its block
    assert summary["keys/tokens"]["mean_offset"] > 1.0  # per-channel blocks sit far from zero
    assert summary["keys/channels"]["outlier_ratio"] > 5
    png = qq_plot([(keys, values)], tmp_path / "qq.png")
    assert png.stat().st_size > 1000

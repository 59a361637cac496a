"""Is the KV cache block-normal? The evidence behind (or against) NQKV's premise, on a real model.

From the unquantized cache of a real text, per layer and for keys and values:
- skew and excess kurtosis of block-standardised elements (each block minus its mean, over its
  std; a normal block gives 0 and 0), pooled over blocks;
- the share of blocks a D'Agostino-Pearson K^2 test does not reject at 5% (scipy `normaltest`);
- `mean_offset`: mean over blocks of |block mean| / block std. NQKV's absmax rule assumes blocks
  centred on zero; a large offset means half the codebook sits where no element is;
- `outlier_ratio`: largest channel RMS over the median channel RMS (outlier key channels make
  per-token blocks share one scale between very different channels);
- `code_use_bits`: entropy of the NF codes actually used (out of `bits`), showing levels wasted.
`qq_plot` draws pooled block-standardised values against normal quantiles for a few layers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from model.nqkv.codebook import nearest_codes
from model.nqkv.config import GroupAxis, QuantSpec
from model.nqkv.quantize import _to_blocks


@dataclass
class SideStats:
    layer: int
    side: str  # "keys" | "values"
    axis: str
    skew: float
    excess_kurtosis: float
    normal_share: float
    mean_offset: float
    outlier_ratio: float
    code_use_bits: float


def _standardised_blocks(x: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    """(num_blocks, block_size) float64, each block minus its mean over its std."""
    tokens = x.shape[-2]
    if spec.axis is GroupAxis.TOKENS:
        x = x[:, :, : tokens - tokens % spec.block_size]
    blocks = _to_blocks(x.double(), spec).reshape(-1, spec.block_size)
    std = blocks.std(dim=-1, keepdim=True).clamp_min(1e-12)
    return (blocks - blocks.mean(dim=-1, keepdim=True)) / std


def side_stats(layer: int, side: str, x: torch.Tensor, spec: QuantSpec) -> SideStats:
    from scipy.stats import normaltest

    z = _standardised_blocks(x, spec)
    flat = z.flatten()
    skew = float(flat.pow(3).mean())
    kurt = float(flat.pow(4).mean()) - 3.0
    # normaltest needs >= 8 samples a block; vectorised over blocks.
    pvalues = normaltest(z.numpy(), axis=-1).pvalue
    raw = _to_blocks(x.double(), spec) if spec.axis is GroupAxis.CHANNELS else None
    blocks = raw.reshape(-1, spec.block_size) if raw is not None else None
    if blocks is None:
        tokens = x.shape[-2] - x.shape[-2] % spec.block_size
        blocks = _to_blocks(x[:, :, :tokens].double(), spec).reshape(-1, spec.block_size)
    offset = float((blocks.mean(-1).abs() / blocks.std(-1).clamp_min(1e-12)).mean())
    channel_rms = x.double().pow(2).mean(dim=(0, 1, 2)).sqrt()
    outlier = float(channel_rms.max() / channel_rms.median().clamp_min(1e-12))
    levels = spec.levels()
    normalised = blocks / blocks.abs().amax(-1, keepdim=True).clamp_min(1e-12)
    codes = nearest_codes(normalised.float(), levels).long().flatten()
    share = torch.bincount(codes, minlength=len(levels)).double() / codes.numel()
    entropy = float(-(share[share > 0] * share[share > 0].log2()).sum())
    return SideStats(
        layer, side, spec.axis.value, skew, kurt, float((pvalues > 0.05).mean()), offset, outlier,
        entropy,
    )  # fmt: skip


def analyze_cache(
    layers: list[tuple[torch.Tensor, torch.Tensor]], bits: int = 2, block_size: int = 64
) -> list[dict[str, Any]]:
    """Stats for every layer, keys and values, grouped along channels and along tokens."""
    rows = []
    for index, (keys, values) in enumerate(layers):
        for axis in (GroupAxis.CHANNELS, GroupAxis.TOKENS):
            spec = QuantSpec(bits=bits, block_size=block_size, axis=axis)
            rows.append(asdict(side_stats(index, "keys", keys.float(), spec)))
            rows.append(asdict(side_stats(index, "values", values.float(), spec)))
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Means over layers for each (side, axis)."""
    out: dict[str, dict[str, float]] = {}
    for side in ("keys", "values"):
        for axis in ("channels", "tokens"):
            group = [r for r in rows if r["side"] == side and r["axis"] == axis]
            if not group:
                continue
            keys = [k for k in group[0] if k not in ("layer", "side", "axis")]
            out[f"{side}/{axis}"] = {k: sum(r[k] for r in group) / len(group) for k in keys}
    return out


def qq_plot(
    layers: list[tuple[torch.Tensor, torch.Tensor]],
    path: Path,
    block_size: int = 64,
    num_points: int = 2000,
) -> Path:
    """QQ plot of block-standardised keys and values (per-token blocks) for three layers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = sorted({0, len(layers) // 2, len(layers) - 1})
    probs = (torch.arange(num_points, dtype=torch.float64) + 0.5) / num_points
    theory = torch.special.ndtri(probs).numpy()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    spec = QuantSpec(block_size=block_size)
    for ax, side in zip(axes, (0, 1), strict=True):
        for index in picks:
            z = _standardised_blocks(layers[index][side].float(), spec).flatten().float()
            quantiles = torch.quantile(z[: 1 << 24], probs.float()).numpy()
            ax.plot(theory, quantiles, ".", markersize=2, label=f"layer {index}")
        ax.plot(theory, theory, "k--", linewidth=1, label="normal")
        ax.set_title(f"{'keys' if side == 0 else 'values'}: blocks of {block_size} channels")
        ax.set_xlabel("N(0,1) quantile")
        ax.legend()
    axes[0].set_ylabel("block-standardised quantile")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def kv_of_text(model: Any, ids: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The unquantized per-layer (keys, values) after one forward pass over `ids`."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        model(ids, cache=cache, use_cache=True)
    return [(layer.keys, layer.values) for layer in cache.layers if layer.keys is not None]


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None

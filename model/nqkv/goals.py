"""The issue's goals, checked against one model's benchmark result (model/nqkv/bench.py's JSON).

Each goal is a line `pass`/`fail` with the numbers behind it, so the README's verdicts come from
the same script run as its tables. KL is the mean over the measured texts.
"""

from __future__ import annotations

from typing import Any

NQKV_PREFIX = "nqkv"


def _mean_kl(result: dict[str, Any]) -> dict[tuple[str, int], float]:
    by_method: dict[tuple[str, int], list[float]] = {}
    for row in result["results"]:
        by_method.setdefault((row["method"], row["bits"]), []).append(row["kl"])
    return {key: sum(kls) / len(kls) for key, kls in by_method.items()}


def _row(result: dict[str, Any], method: str, bits: int) -> dict[str, Any] | None:
    return next((r for r in result["results"] if r["method"] == method and r["bits"] == bits), None)


def goal_lines(result: dict[str, Any]) -> list[str]:
    """Markdown bullet lines, one per goal (skipped when its methods were not run)."""
    kl = _mean_kl(result)
    bits_run = sorted({b for (_, b) in kl if b != 16})
    variants = sorted({m for (m, _) in kl if m.startswith(NQKV_PREFIX)})
    lines = []
    ppl = [r for r in result["results"] if r["method"] == "nqkv" and r["bits"] == 4]
    if ppl:
        worst = max(r["ppl_delta_pct"] for r in ppl)
        lines.append(
            f"- NQKV-4 (paper rule) perplexity within 1% of fp16: "
            f"{'pass' if worst <= 1 else 'fail'} (worst text {worst:+.2f}%)"
        )
    for peer in ("kivi", "int_tok_head", "rot_lloyd"):
        if not any(m == peer for (m, _) in kl):
            continue
        for variant in variants:
            wins = [
                b
                for b in bits_run
                if (variant, b) in kl and (peer, b) in kl and kl[(variant, b)] <= kl[(peer, b)]
            ]
            detail = ", ".join(
                f"{b}-bit {kl[(variant, b)]:.4f} vs {kl[(peer, b)]:.4f}"
                for b in bits_run
                if (variant, b) in kl and (peer, b) in kl
            )
            verdict = "pass" if len(wins) == len(bits_run) else "fail"
            lines.append(f"- {variant} KL <= {peer} at every width: {verdict} ({detail})")
    body = _row(result, "nqkv", 4)
    if body is not None and body.get("body_ratio") is not None:
        ratio = body["body_ratio"]
        lines.append(
            f"- NQKV-4 bytes/token <= 0.28x fp16 with scales: {'pass' if ratio <= 0.28 else 'fail'} "
            f"({ratio:.3f}x for the quantized body; {body['bytes_ratio']:.3f}x at this length "
            f"with the full-precision window counted at fp16)"
        )
        lines.append(
            f"- 3.5x the tokens of fp16 at a fixed budget: {'pass' if 1 / ratio >= 3.5 else 'fail'} "
            f"({1 / ratio:.2f}x asymptotically, {1 / body['bytes_ratio']:.2f}x at this length)"
        )
    return lines

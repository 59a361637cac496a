"""The benchmark's JSON as a markdown table (one per model; one column group per text)."""

from __future__ import annotations

from typing import Any

from model.nqkv.goals import goal_lines


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def markdown_report(report: dict[str, Any]) -> str:
    load = ""
    if "load_average_start" in report:
        start, end = report["load_average_start"][0], report.get("load_average_end", [0])[0]
        load = f"; 1-min load average {start:.1f} at start, {end:.1f} at end"
    lines = [f"Command: `{report.get('command', '')}` ({report.get('platform', '')}{load})", ""]
    for model_name, result in report["models"].items():
        if "error" in result:
            lines += [f"### {model_name}: not measured ({result['error']})", ""]
            continue
        texts = list(result["num_tokens"])
        sizes = ", ".join(f"{t} {n} tokens" for t, n in result["num_tokens"].items())
        config = result["config"]
        lines += [
            f"### {result.get('model_id', model_name)} ({sizes}; residual window "
            f"{config['residual_tokens']} tokens, chunks of {config['chunk_tokens']})",
            "",
        ]
        header = ["method", "bits"]
        for text in texts:
            header += [f"{text} ppl (Δ%)", f"{text} KL"]
        header += ["SQNR K/V dB", "bytes/tok (×fp16)", "body ×fp16", "greedy agree"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        rows: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
        for row in result["results"]:
            rows.setdefault((row["method"], row["bits"]), {})[row["text"]] = row
        for (method, bits), by_text in rows.items():
            first = by_text[texts[0]]
            cells = [method, str(bits)]
            for text in texts:
                row = by_text.get(text, {})
                cells.append(f"{_fmt(row.get('ppl'), '.3f')} ({row.get('ppl_delta_pct', 0):+.2f})")
                cells.append(_fmt(row.get("kl"), ".4f"))
            sqnr_k, sqnr_v = first.get("sqnr_k_db"), first.get("sqnr_v_db")
            cells.append("–" if sqnr_k is None else f"{sqnr_k:.1f} / {sqnr_v:.1f}")
            cells.append(f"{first['bytes_per_token']:.0f} ({first['bytes_ratio']:.3f})")
            cells.append(_fmt(first.get("body_ratio"), ".3f") if method != "fp16" else "1")
            agree = first.get("greedy_agree")
            cells.append(
                "–" if agree is None else f"{agree:.2f} (first diff {first['greedy_first_diff']})"
            )
            lines.append("| " + " | ".join(cells) + " |")
        tails = result.get("fitted_tails")
        if tails:
            fitted = "; ".join(f"{b}-bit K {t[0]}, V {t[1]}" for b, t in tails.items())
            lines += ["", f"nqkv_fit tails (fitted on {result['calibration_tokens']} other FinQA "
                      f"tokens): {fitted}"]  # fmt: skip
        for name, reason in result.get("skipped", {}).items():
            lines += ["", f"{name} not measured: {reason}"]
        lines += ["", "Goals (KL averaged over the texts):", "", *goal_lines(result)]
        lines += ["", f"({result.get('seconds', 0):.0f} s)", ""]
    return "\n".join(lines)

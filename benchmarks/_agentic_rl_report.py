"""benchmarks/agentic_rl.py's outputs: the before/after table, the goals, the curves (PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOAL_RISE = 0.15  # test pass rate rise over the base model, absolute
GOAL_PPL = 0.05  # most relative rise of general-text perplexity


def goals(report: dict[str, Any]) -> dict[str, bool]:
    stages = report["stages"]
    base, sft, rl = (stages[name]["test"]["pass_rate"] for name in ("base", "sft", "rl"))
    ppl_base, ppl_rl = stages["base"]["perplexity"]["mean"], stages["rl"]["perplexity"]["mean"]
    return {
        "rl_beats_sft": rl > sft,
        "pass_rate_rise_ge_15_points": rl - base >= GOAL_RISE,
        "perplexity_rise_le_5pct": ppl_rl <= ppl_base * (1 + GOAL_PPL),
    }


def chosen_round(history: list[dict[str, Any]]) -> int:
    """The round the loop kept (0: the warm start). Every round that beat the best so far is
    marked; the last of them is the one kept."""
    return max((e["iteration"] for e in history[1:] if e.get("is_best")), default=0)


def markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    sft_source = report.get("sft_collect", report["collect"])
    sft_with_grammar = sft_source["run_id"] != report["collect"]["run_id"]
    lines = [
        f"Agentic RL on `{report['model_id']}` ({report['machine']}, load average at start "
        f"{report['load_average_start']}), {report['date']}"
        + (" — **smoke configuration, not a measurement**" if config["smoke"] else "")
        + ".",
        "",
        f"Tool-use suite seed {config['seed']}: {config['test_limit'] or 'all'} test questions "
        f"(greedy, same questions for every model), rollouts on {config['train_limit']} train "
        f"questions x G={config['group']} at T={config['temperature']}, best RL round chosen on "
        f"{config['dev_limit'] or 'all'} dev questions, {config['iterations']} RL rounds; "
        f"tool calls {config.get('tool_calls', 'constrained')} (free: as the model writes them, "
        "no grammar), answers quoting the tools; SFT warm start on the successful rollouts of "
        + (
            "the base agent with its tool-call grammar"
            if sft_with_grammar
            else "the base model (the same rollouts)"
        )
        + ".",
        "",
        "| model | test pass rate | valid-call rate | mean reward | perplexity (general text) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (("base", "base"), ("sft", "SFT warm start"), ("rl", "after RL")):
        stage = report["stages"][name]
        test, ppl = stage["test"], stage["perplexity"]
        note = f" ({stage['note']})" if stage.get("note") else ""
        lines.append(
            f"| {label}{note} | {test['pass_rate']:.1%} | {test['valid_call_rate']:.1%} | "
            f"{test['mean_reward']:.3f} | {ppl['mean']:.3f} |"
        )
    last = report.get("last_round")
    if last:
        test = last["test"]
        lines.append(
            f"| RL round {last['iteration']}, the last (not chosen on dev; shown, never used to "
            f"choose) | {test['pass_rate']:.1%} | {test['valid_call_rate']:.1%} | "
            f"{test['mean_reward']:.3f} | - |"
        )
    sources = [("base model's rollouts", report["collect"])]
    if sft_with_grammar:
        sources.append(("SFT source, with the grammar", sft_source))
    lines.append("")
    for label, run in sources:
        lines.append(
            f"- {label}: {run['num_episodes']} train episodes, {run['pass_rate']:.1%} passed, "
            f"{run['valid_call_rate']:.1%} valid calls."
        )
    lines += [
        "",
        "RL rounds (each trains the best model so far on its own rollouts; chosen on dev):",
        "",
        "| round | rollouts passed (train, T=0.8) | steps | dev pass rate | dev valid calls |",
        "|---|---:|---:|---:|---:|",
    ]
    for entry in report["loop"]:
        score = entry.get("score") or {}
        steps = entry.get("train", {}).get("steps", "-")
        collected = entry.get("collect")
        passed = f"{collected['pass_rate']:.1%}" if collected else "-"
        if not score:
            lines.append(f"| {entry.get('iteration', 0)} | {passed} | skipped: no signal | | |")
            continue
        lines.append(
            f"| {entry.get('iteration', 0)} | {passed} | {steps} | {score['pass_rate']:.1%} | "
            f"{score['valid_call_rate']:.1%} |"
        )
    lines += [
        "",
        "Goals: "
        + ", ".join(f"{k}: {'pass' if v else 'FAIL'}" for k, v in report["goals"].items()),
    ]
    if seconds := report.get("stage_seconds"):
        slow = {name: value for name, value in seconds.items() if value >= 60}
        lines += [
            "",
            f"Stage wall times ({sum(seconds.values()) / 3600:.1f} h in all): "
            + ", ".join(f"{name} {value / 60:.0f} min" for name, value in slow.items()),
        ]
    lines += ["", f"Curves: `{report['curves']}`"]
    if report.get("throughput"):
        lines += ["", throughput_markdown(report["throughput"])]
    return "\n".join(lines) + "\n"


def throughput_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Training throughput, {result['model']} on {result['device']}:",
        "",
        "| mode | trainable params | seqs x tokens / step | s / step | tokens/s | "
        "completion tokens/s | peak memory |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        memory = f"{row['peak_memory_gib']} GiB" if row["peak_memory_gib"] is not None else "-"
        lines.append(
            f"| {row['mode']} | {row['trainable_parameters'] / 1e6:.1f} M | "
            f"{row['sequences_per_step']} x {row['sequence_tokens']} | {row['seconds_per_step']} | "
            f"{row['tokens_per_s']:,.0f} | {row['completion_tokens_per_s']:,.0f} | {memory} |"
        )
    return "\n".join(lines) + "\n"


def plot_curves(loop_dir: Path, sft_dir: Path | None, path: Path) -> Path:
    """Reward and KL per optimizer step over every RL round, the SFT loss, dev pass per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    offset = 0
    for metrics_file in sorted(loop_dir.glob("iter-*/metrics.jsonl")):
        rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line]
        steps = [offset + row["step"] for row in rows]
        label = metrics_file.parent.name
        axes[0].plot(steps, [row["reward"] for row in rows], marker=".", label=label)
        kl = [float("nan") if row["kl"] is None else row["kl"] for row in rows]
        axes[1].plot(steps, kl, marker=".", label=label)
        offset = steps[-1] if steps else offset
    if sft_dir is not None and (sft_dir / "metrics.jsonl").is_file():
        rows = [json.loads(line) for line in (sft_dir / "metrics.jsonl").read_text().splitlines()]
        axes[2].plot([r["step"] for r in rows], [r["loss"] for r in rows], marker=".")
    state = json.loads((loop_dir / "loop.json").read_text())
    rounds = [state["base"], *state.get("iterations", [])]
    points = [(i, r["score"]["pass_rate"]) for i, r in enumerate(rounds) if r.get("score")]
    axes[3].plot([p[0] for p in points], [p[1] for p in points], marker="o")
    titles = (
        "RL: mean episode reward per step",
        "RL: KL to the start model (k3)",
        "SFT warm start: loss",
        "dev pass rate per round (0 = start)",
    )
    for axis, title in zip(axes, titles, strict=True):
        axis.set_title(title, fontsize=9)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

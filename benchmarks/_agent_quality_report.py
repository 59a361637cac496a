"""The markdown report of benchmarks/agent_quality.py, and the agreement between its arms."""

from __future__ import annotations

from typing import Any


def agreement(rows: list[dict[str, Any]], reference: str, arm: str) -> dict[str, Any]:
    """How often `arm` made the same tool calls (names and arguments) and gave the same answer
    as `reference` on the same questions (what a KV cache changes in the agent's behaviour)."""
    ref = {r["id"]: r for r in rows if r["arm"] == reference}
    mine = [r for r in rows if r["arm"] == arm and r["id"] in ref]
    same_calls = sum(
        (r["tools_called"], r["arguments"])
        == (ref[r["id"]]["tools_called"], ref[r["id"]]["arguments"])
        for r in mine
    )
    same_answer = sum(r["answer"] == ref[r["id"]]["answer"] for r in mine)
    return {"questions": len(mine), "same_calls": same_calls, "same_answer": same_answer}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Agent quality on `{report['model_id']}` ({report['machine']}, "
        f"load average at start {report['load_average_start']}), tool-use suite seed "
        f"{report['seed']}, {report['date']}.",
        "",
    ]
    if report.get("settings", {}).get("agent_constrained") == "False":
        lines += ["Tool calls free (`HUIJIN_AGENT_CONSTRAINED=false`): no grammar.", ""]
    for kv_cache, engine in report.get("engines", {}).items():
        options = ", ".join(
            f"{k} {v}" for k, v in engine.items() if k.startswith("kv_") and k != "kv_cache"
        )
        lines.append(
            f"- kv={kv_cache}: engine cache `{engine['kv_cache']}`"
            + (f" ({options})" if options else "")
            + f", decode weights {engine.get('decode_weights')}, "
            f"loaded in {engine['load_time_s']:.1f} s"
        )
    if report.get("engines"):
        lines.append("")
    lines += [
        "| questions | valid calls | right tool | right number | answers replaced "
        "| mean turns | median latency |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, summary in report["summary"].items():
        lines.append(
            f"| {name} ({summary['questions']}) | {summary['valid_calls']:.0%} | "
            f"{summary['right_tool']:.0%} | {summary['right_number']:.0%} | "
            f"{summary['answers_replaced']:.0%} | {summary['mean_steps']} | "
            f"{summary['median_latency_s']} s |"
        )
    arms = list(report["goals_met"])
    lines.append("")
    for arm, marks in report["goals_met"].items():
        lines.append(
            f"Goals, {arm} (all questions): "
            + ", ".join(
                f"{key} {'>=' if key != 'median_latency_s' else '<='} {report['goals'][key]}: "
                f"{'pass' if ok else 'FAIL'}"
                for key, ok in marks.items()
            )
        )
    if report.get("agreement"):
        lines += ["", f"Same behaviour as {arms[0]} on the same questions:", ""]
        for arm, same in report["agreement"].items():
            lines.append(
                f"- {arm}: same tool calls and arguments {same['same_calls']}/{same['questions']}, "
                f"same answer text {same['same_answer']}/{same['questions']}"
            )
    lines += [
        "",
        "Per template (all questions): right tool / right number, per arm",
        "",
        "| template | n | " + " | ".join(arms) + " |",
        "|---|---|" + "---|" * len(arms),
    ]
    by_template: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in report["rows"]:
        by_template.setdefault(row["template"], {}).setdefault(row["arm"], []).append(row)
    for template, by_arm in by_template.items():
        cells = [
            f"{sum(r['right_tool'] for r in by_arm.get(a, []))} / "
            f"{sum(r['right_number'] for r in by_arm.get(a, []))}"
            for a in arms
        ]
        count = len(next(iter(by_arm.values())))
        lines.append(f"| {template} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

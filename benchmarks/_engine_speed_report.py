"""Turn the workers' raw numbers into the goal checks and the markdown summary."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

LLAMACPP = "llamacpp"
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Goal:
    """One target from the engine-speed issue, checked for one configuration of our engine."""

    name: str
    value: float
    target: float
    is_upper_bound: bool  # True: value must be <= target; False: value must be >= target

    @property
    def passed(self) -> bool:
        return self.value <= self.target if self.is_upper_bound else self.value >= self.target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def machine_info(num_threads: int) -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "num_cores": os.cpu_count(),
        "num_threads": num_threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {pkg: _version(pkg) for pkg in ("torch", "transformers", "llama_cpp_python")},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        # Other processes on the same cores distort every number; the report says so.
        "load_average_1min_at_start": os.getloadavg()[0],
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _contention_note(machine: dict[str, Any]) -> list[str]:
    loads = [machine["load_average_1min_at_start"], machine.get("load_average_1min_at_end", 0.0)]
    num_cores = machine["num_cores"] or 1
    # At the end our own last worker still counts in the 1-minute average (up to `num_cores`).
    if loads[0] <= 0.5 * num_cores and loads[1] <= 1.5 * num_cores:
        return []
    return [
        f"**Warning:** 1-minute load average {loads[0]:.1f} at start, {loads[1]:.1f} at end on "
        f"{machine['num_cores']} cores: other processes shared the CPU, numbers are pessimistic.",
        "",
    ]


def goals_for(ours: dict[str, Any], reference: dict[str, Any] | None) -> list[Goal]:
    """The issue's targets; ratios are against llama.cpp single-stream decode tokens/s."""
    run = ours["run"]
    goals = [
        Goal("cached load (s)", run["load_s"], 5.0, is_upper_bound=True),
        Goal(
            f"TTFT at {run['ttft']['num_prompt_tokens']} prompt tokens (s)",
            run["ttft"]["wall_s"]["median"],
            1.0,
            is_upper_bound=True,
        ),
    ]
    if reference is None:
        return goals
    reference_tps = reference["run"]["decode"]["decode_tokens_per_s"]["median"]
    ours_tps = run["decode"]["decode_tokens_per_s"]["median"]
    goals.append(
        Goal("single-stream / llama.cpp single-stream", ours_tps / reference_tps, 0.5, False)
    )
    batch_8 = run.get("batch", {}).get("8")
    if batch_8 is not None:
        ratio = batch_8["tokens_per_s"]["median"] / reference_tps
        goals.append(Goal("batch-8 aggregate / llama.cpp single-stream", ratio, 1.5, False))
    return goals


def _rows(backends: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    def cell(name: str, path: tuple[str, ...], scale: float = 1.0, fmt: str = "{:.2f}") -> str:
        node: Any = backends[name]
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return "-"
            node = node[key]
        if isinstance(node, dict):
            node = node["median"]
        return fmt.format(node / scale)

    names = list(backends)
    batch_sizes = sorted(
        {int(b) for data in backends.values() for b in data.get("run", {}).get("batch", {})}
    )
    rows = [
        ("load, first (s, incl. conversion)", [cell(n, ("load_first", "load_s")) for n in names]),
        ("load, cached (s)", [cell(n, ("run", "load_s")) for n in names]),
        ("prompt tokens for TTFT", [cell(n, ("run", "ttft", "num_prompt_tokens"), fmt="{:.0f}") for n in names]),
        ("TTFT (s)", [cell(n, ("run", "ttft", "wall_s")) for n in names]),
        ("single-stream decode (tok/s)", [cell(n, ("run", "decode", "decode_tokens_per_s"), fmt="{:.1f}") for n in names]),
        ("single-stream end-to-end (tok/s)", [cell(n, ("run", "decode", "end_to_end_tokens_per_s"), fmt="{:.1f}") for n in names]),
        ("new tokens per run (each repeat)", [str(backends[n].get("run", {}).get("decode", {}).get("num_new_tokens", "-")) for n in names]),
    ]  # fmt: skip
    for size in batch_sizes:
        path = ("run", "batch", str(size), "tokens_per_s")
        rows.append(
            (f"batch {size} aggregate (tok/s)", [cell(n, path, fmt="{:.1f}") for n in names])
        )
    rows += [
        ("peak RSS, first load (MiB)", [cell(n, ("load_first", "peak_rss_bytes"), _MIB, "{:.0f}") for n in names]),
        ("peak RSS, serving (MiB)", [cell(n, ("run", "peak_rss_bytes"), _MIB, "{:.0f}") for n in names]),
        ("1-min load average at end of run", [cell(n, ("run", "load_average_1min_at_end"), fmt="{:.1f}") for n in names]),
    ]  # fmt: skip
    return rows


def markdown(report: dict[str, Any]) -> str:
    machine, workload, backends = report["machine"], report["workload"], report["backends"]
    names = list(backends)
    lines = [
        "# Engine speed: transformers engine vs llama.cpp",
        "",
        f"{machine['date']} · {machine['cpu_model']} · {machine['num_cores']} cores · "
        f"{machine['num_threads']} threads · torch {machine['versions']['torch']} · "
        f"llama-cpp-python {machine['versions']['llama_cpp_python']}",
        "",
        f"Model: `{report['gguf']}`. Greedy, {workload['max_new_tokens']} new tokens, "
        f"median of {workload['num_repeats']} after {workload['num_warmup']} warm-up.",
        "",
        *_contention_note(machine),
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in _rows(backends)]
    goal_rows = [(name, goal) for name, goals in report["goals"].items() for goal in goals]
    if goal_rows:
        lines += ["", "## Goals", "", "| engine | goal | value | target | result |"]
        lines.append("|---|---|---:|---:|---|")
    for name, goal in goal_rows:
        sign = "<=" if goal["is_upper_bound"] else ">="
        verdict = "pass" if goal["passed"] else "**fail**"
        lines.append(
            f"| {name} | {goal['name']} | {goal['value']:.2f} | {sign} {goal['target']} | {verdict} |"
        )
    lines += [
        "",
        "Decode tok/s = (new tokens - 1) / (time for all - time for 1 token), same prompt shape; "
        "batch aggregate includes prefill. TTFT = wall time of a 1-token chat on a fresh prefix. "
        "Each backend runs in its own process (peak RSS is per backend). "
        f"Ratios are against `{report.get('reference')}`, the faster llama.cpp run.",
        "",
    ]
    return "\n".join(lines)

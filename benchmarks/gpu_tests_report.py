"""The `gpu` tests' outcome as a result file: benchmarks/results/gpu_tests.{json,md}.

run_gpu.sh calls it after the tests, so what passed on which device is committed beside the
timings (a junit file is neither small nor readable in a diff):

    python benchmarks/gpu_tests_report.py LOGS/gpu_tests.xml LOGS/gpu_tests.log --out DIR
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def read_junit(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """The run's date (YYYY-MM-DD from the suite's timestamp, or "unknown") and one record per
    test case: node id, outcome (passed, failed, error, skipped), seconds."""
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    date = (suite.get("timestamp", "") if suite is not None else "")[:10] or "unknown"
    cases = []
    for case in root.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
        module = case.get("classname", "").replace(".", "/")
        cases.append(
            {
                "test": f"{module}.py::{case.get('name')}",
                "outcome": outcome,
                "seconds": round(float(case.get("time", 0.0)), 2),
            }
        )
    return date, cases


def device_line(log: Path) -> str:
    """run_gpu.sh's first log line: 'device: NAME; torch X, triton Y'."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("device: "):
            return line.removeprefix("device: ").strip()
    return "unknown"


def write_report(cases: list[dict[str, Any]], device: str, date: str, out: Path) -> dict:
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["outcome"]] = counts.get(case["outcome"], 0) + 1
    result = {"device": device, "date": date, "counts": counts, "tests": cases}
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_tests.json").write_text(json.dumps(result, indent=2) + "\n")
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    lines = [
        "# gpu tests (`bash benchmarks/run_gpu.sh`)",
        "",
        f"{device}, {date}: {summary}.",
        "",
        "| test | outcome | s |",
        "|---|---|---:|",
        *(f"| `{c['test']}` | {c['outcome']} | {c['seconds']:.2f} |" for c in cases),
    ]
    (out / "gpu_tests.md").write_text("\n".join(lines) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    date, cases = read_junit(args.junit)
    result = write_report(cases, device_line(args.log), date, args.out)
    print(f"gpu tests on {result['device']}: {result['counts']} -> {args.out / 'gpu_tests.md'}")


if __name__ == "__main__":
    main()

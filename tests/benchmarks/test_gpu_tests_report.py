"""benchmarks/gpu_tests_report.py: a junit file and run_gpu.sh's log -> gpu_tests.{json,md}."""

from __future__ import annotations

import json
from pathlib import Path

from gpu_tests_report import device_line, read_junit, write_report

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite
name="pytest" errors="0" failures="1" skipped="1" tests="3" time="3.0"
timestamp="2026-11-27T05:34:59.711274+00:00"><testcase classname="tests.model.engine.test_cuda"
name="test_a" time="1.234" /><testcase classname="tests.model.engine.test_cuda" name="test_b[x-2]"
time="0.5"><failure message="boom">trace</failure></testcase><testcase
classname="tests.model.reasoning.test_cuda" name="test_c" time="0"><skipped message="no cuda"
/></testcase></testsuite></testsuites>"""


def test_outcomes_device_and_files(tmp_path: Path) -> None:
    (tmp_path / "gpu_tests.xml").write_text(JUNIT)
    (tmp_path / "gpu_tests.log").write_text(
        "device: NVIDIA H200; torch 2.11.0+cu130, triton 3.6.0\n....\n"
    )
    date, cases = read_junit(tmp_path / "gpu_tests.xml")
    assert date == "2026-11-27"
    assert cases == [
        {"test": "tests/model/engine/test_cuda.py::test_a", "outcome": "passed", "seconds": 1.23},
        {
            "test": "tests/model/engine/test_cuda.py::test_b[x-2]",
            "outcome": "failed",
            "seconds": 0.5,
        },
        {
            "test": "tests/model/reasoning/test_cuda.py::test_c",
            "outcome": "skipped",
            "seconds": 0.0,
        },
    ]
    device = device_line(tmp_path / "gpu_tests.log")
    assert device == "NVIDIA H200; torch 2.11.0+cu130, triton 3.6.0"
    write_report(cases, device, date, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "gpu_tests.json").read_text())
    assert saved["counts"] == {"passed": 1, "failed": 1, "skipped": 1}
    markdown = (tmp_path / "out" / "gpu_tests.md").read_text()
    assert "NVIDIA H200" in markdown and "1 failed, 1 passed, 1 skipped" in markdown
    assert device_line(tmp_path / "gpu_tests.xml") == "unknown"


def test_a_bare_testsuite_root_and_a_missing_timestamp(tmp_path: Path) -> None:
    """Older pytest writes <testsuite> as the root; a file without a timestamp says unknown."""
    (tmp_path / "a.xml").write_text(
        '<testsuite timestamp="2026-01-02T00:00:00"><testcase classname="t" name="x" time="1"/>'
        "</testsuite>"
    )
    (tmp_path / "b.xml").write_text(
        '<testsuites><testsuite><testcase classname="t" name="y"/></testsuite></testsuites>'
    )
    assert read_junit(tmp_path / "a.xml") == (
        "2026-01-02",
        [{"test": "t.py::x", "outcome": "passed", "seconds": 1.0}],
    )
    assert read_junit(tmp_path / "b.xml")[0] == "unknown"

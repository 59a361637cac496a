"""The benchmarks/ scripts import their helpers as siblings (`from _eval_table_report import ...`),
as they do when run as `python benchmarks/<script>.py`; the tests see them the same way."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS_DIR) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS_DIR))

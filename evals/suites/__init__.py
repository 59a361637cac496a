"""Suites this project owns (generated, not downloaded). `build_suite` is the tool-use suite."""

from evals.suites.tooluse import build_suite

__all__ = ["build_suite"]

"""Fixtures of the vLLM plugin tests.

Tests that need vLLM are marked `vllm` (deselected by default; `make test-vllm` installs the
vllm wheel and runs them). They get vLLM through the `nqkv_backend` fixture, never through a
module-level import, so collecting this package imports nothing heavy in the default run and a
checkout without vLLM skips them (pytest.importorskip).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def nqkv_backend() -> type:
    """The NQKV backend class, after the plugin was registered through its entry point."""
    pytest.importorskip("vllm", reason="needs the vllm wheel (make test-vllm installs it)")
    from importlib.metadata import entry_points

    from vllm.v1.attention.backends.registry import AttentionBackendEnum

    (entry,) = [e for e in entry_points(group="vllm.general_plugins") if e.name == "nqkv"]
    entry.load()()
    return AttentionBackendEnum.CUSTOM.get_class()

"""Kernel tests run on triton's CPU interpreter by default, and compiled where marked `gpu`.

TRITON_INTERPRET is set per test through monkeypatch, never for the session: the kernels read it
when they are launched (model.nqkv.kernels.loader builds one kernel module per mode), so the
rest of the test suite, and the GPU tests in this package, see the variable as it was.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def triton_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("gpu"):
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    else:
        monkeypatch.setenv("TRITON_INTERPRET", "1")
